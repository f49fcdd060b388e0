"""GLI: a Python graph library with a sharded, lock-striped Rust engine.

Many Python threads may mutate and query one graph at once; Rust answers with
the GIL released. ``gli.Graph()`` is the entry point.
"""

from __future__ import annotations

from . import _core
from ._pygraph import PythonGraph
from .exceptions import (
    ConvergenceError,
    EdgeAlreadyExistsError,
    EdgeNotFoundError,
    GLIError,
    NodeNotFoundError,
    NoPathError,
)
from .graph import BACKENDS, Graph

__all__ = [
    "Graph",
    "PythonGraph",
    "BACKENDS",
    "counters",
    "set_filter_threads",
    "GLIError",
    "NodeNotFoundError",
    "EdgeNotFoundError",
    "EdgeAlreadyExistsError",
    "NoPathError",
    "ConvergenceError",
    "__version__",
]

__version__: str = _core.__version__
set_filter_threads = _core.set_filter_threads


def counters() -> dict[str, int]:
    """Process-wide monotonic event counters of the native engine.

    Keys include ``ffi_calls`` (calls into ``gli._core``), ``gil_reacquisitions``,
    ``predicate_calls`` and ``predicate_batches``. Counting is per thread and
    summed here, so it never becomes a contention point.
    """
    return _core.counters()
