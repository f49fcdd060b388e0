"""The ``Graph`` facade.

``Graph(backend="rust")`` returns an instance of a thin subclass of the native
class ``gli._core.Graph``: every method call goes straight to Rust, with no
Python frame in between. ``Graph(backend="python")`` returns the pure-Python
reference backend, which has the same methods and semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _core
from ._batch import BatchOperations
from ._pygraph import PythonGraph

__all__ = ["Graph", "BACKENDS"]

BACKENDS = ("rust", "python")

# The predicate's attribute views and vectorized batches are native classes;
# registering them makes isinstance(attrs, Mapping) true, as users expect.
Mapping.register(_core.AttributeView)
Sequence.register(_core.AttributeBatch)


class Graph(_core.Graph):
    """A directed or undirected graph whose engine is Rust (or pure Python).

    ``Graph(directed=True, backend="rust")``. See the README for the API.
    """

    __slots__ = ()

    def __new__(cls, directed: bool = True, backend: str = "rust") -> Any:
        if backend == "python":
            return PythonGraph(directed=directed)
        # The native constructor validates ``backend`` (ValueError if unknown).
        return super().__new__(cls, directed, backend)

    def batch_operations(self) -> BatchOperations:
        """Record mutations in Python; apply them atomically in one call at exit."""
        return BatchOperations(self)
