"""GLI: a Python graph library with a sharded, lock-striped Rust engine.

Many Python threads may mutate and query one graph at once; Rust answers with
the GIL released. ``gli.Graph()`` is the entry point.
"""

from __future__ import annotations

import atexit
import functools
import os

from . import _core

# rust-numpy finds numpy's C API on first use by running a little Python; a
# Ctrl-C there would surface as a PanicException from whichever call came
# first. Done now, it raises as itself (import failed) and never again.
_core._numpy_ready()
from ._pygraph import PythonGraph
from .exceptions import (
    ConvergenceError,
    EdgeAlreadyExistsError,
    EdgeNotFoundError,
    GLIError,
    NodeNotFoundError,
    NoPathError,
)
from ._tracing import disable_tracing, enable_tracing, tracing_enabled
from ._tracing import _from_environment as _trace_from_environment
from .graph import BACKENDS, Graph

__all__ = [
    "Graph",
    "PythonGraph",
    "BACKENDS",
    "counters",
    "set_filter_threads",
    "enable_tracing",
    "disable_tracing",
    "tracing_enabled",
    "GLIError",
    "NodeNotFoundError",
    "EdgeNotFoundError",
    "EdgeAlreadyExistsError",
    "NoPathError",
    "ConvergenceError",
    "__version__",
]

__version__: str = _core.__version__

# At exit, threads still inside a GLI call stop before they would re-attach
# (CPython 3.11-3.13 would end them with an unwind that aborts the process).
atexit.register(_core._at_exit)
# A fork waits until no thread is inside GLI's detached work and holds the
# fork gate across it: the child gets no half-applied batch and no lock it
# cannot free (src/python/fork.rs).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_core._before_fork, after_in_parent=functools.partial(_core._after_fork, False),
                        after_in_child=functools.partial(_core._after_fork, True))
set_filter_threads = _core.set_filter_threads


def counters() -> dict[str, int]:
    """Process-wide monotonic event counters of the native engine.

    Keys include ``ffi_calls`` (calls into ``gli._core``), ``gil_reacquisitions``,
    ``predicate_calls``, ``predicate_batches``, ``views_built`` and
    ``column_reads`` (a predicate's attribute reads served by value columns).
    Counting is per thread and summed here, so it never becomes a contention
    point.
    """
    return _core.counters()


_trace_from_environment()
