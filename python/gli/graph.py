"""The ``Graph`` facade.

``Graph(backend="rust")`` returns an instance of a thin subclass of the native
class ``gli._core.Graph``: every method call goes straight to Rust, with no
Python frame in between. The subclass (and any subclass of it) holds its own
copies of the native method descriptors (``_core._share_methods``): CPython
specializes a method call only when the instance's type is exactly the
descriptor's class, so without them every call on a ``Graph`` would take the
generic path, about 10 ns slower than on the native class. ``Graph(backend="python")`` returns the pure-Python
reference backend, which has the same methods and semantics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Self, cast

from . import _core
from ._async import AsyncQueries
from ._batch import BatchOperations
from ._pygraph import PythonGraph

__all__ = ["Graph", "BACKENDS"]

BACKENDS = ("rust", "python")

# The predicate's attribute views and vectorized batches are native classes;
# registering them makes isinstance(attrs, Mapping) true, as users expect.
Mapping.register(_core.AttributeView)
Sequence.register(_core.AttributeBatch)


class _GraphType(type):
    """``Graph``'s metaclass: it makes the pure-Python backend's graphs count as
    ``Graph`` instances too (``isinstance(Graph(backend="python"), Graph)``),
    so that user code checking for a ``Graph`` accepts either backend. Only
    ``isinstance`` / ``issubclass`` against ``Graph`` itself change; method
    calls do not go through the metaclass."""

    def __instancecheck__(cls, obj: object) -> bool:
        return super().__instancecheck__(obj) or (cls is Graph and isinstance(obj, PythonGraph))

    def __subclasscheck__(cls, sub: type) -> bool:
        return super().__subclasscheck__(sub) or (cls is Graph and issubclass(sub, PythonGraph))


class Graph(_core.Graph, AsyncQueries, metaclass=_GraphType):
    """A directed or undirected graph whose engine is Rust (or pure Python).

    ``Graph(directed=True, backend="rust")``. See the README for the API.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _core._share_methods(cls)  # a user's subclass calls as fast as Graph itself

    def __new__(cls, directed: bool = True, backend: str = "rust", *args: Any, **kwargs: Any) -> Self:
        # A subclass's own __init__ may take more arguments (as NetworkX
        # graph subclasses often do); Graph itself takes these two only.
        if (args or kwargs) and cls.__init__ is Graph.__init__:
            if args:
                raise TypeError(f"{cls.__name__}() takes at most 2 arguments ({len(args) + 2} given)")
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")
        # backend="python" returns the reference backend, which has the same
        # methods and semantics; it is typed as a Graph for the same reason.
        if backend == "python":
            if cls is not Graph:  # its methods would be silently lost on a PythonGraph
                raise TypeError(
                    f"{cls.__name__}(backend='python'): a subclass of Graph extends the rust backend;"
                    " subclass gli.PythonGraph to extend the reference backend"
                )
            return cast(Self, PythonGraph(directed=directed))
        # The native constructor validates ``backend`` (ValueError if unknown).
        return super().__new__(cls, directed, backend)

    def __init__(self, directed: bool = True, backend: str = "rust", *args: Any, **kwargs: Any) -> None:
        """Everything happens in ``__new__``; this lets a subclass's own
        ``__init__`` call ``super().__init__(directed)``."""

    def batch_operations(self) -> BatchOperations:
        """Record mutations in Python; apply them atomically in one call at exit."""
        return BatchOperations(self)

    # NetworkX interop (networkx is imported only when these are used)
    def to_networkx(self) -> Any:
        """A new ``networkx.DiGraph`` (or ``Graph``) with every node, edge and attribute."""
        from ._nx import to_networkx

        return to_networkx(self)

    @classmethod
    def from_networkx(cls, G: Any, backend: str = "rust") -> Graph:
        """A new GLI graph from a NetworkX ``Graph`` / ``DiGraph`` (attributes kept;
        ``G.graph`` dropped; multigraphs and non-``str``/``int`` ids raise ``TypeError``)."""
        from ._nx import from_networkx

        return cast(Graph, from_networkx(G, backend, cls))

    # pickle / copy: a compact binary image built in Rust from one snapshot,
    # plus the opaque attribute values (pickled, or copied, by Python). The
    # empty graph is made first and filled from the state afterwards, so that
    # attribute values may refer back to the graph (pickle's memo, and
    # deepcopy's, already hold it when they reach such a reference).
    def __reduce__(self) -> tuple[Any, ...]:
        return (_empty, (type(self), self.directed), self.__getstate__())

    def __getstate__(self) -> tuple[Any, ...]:
        image, objects = self._dump_state()
        extra = getattr(self, "__dict__", None) or None
        # A subclass's __slots__ values, as pickle keeps them for any class.
        slots = {n: getattr(self, n) for n in _slot_names(type(self)) if hasattr(self, n)}
        return (image, objects, extra, slots) if slots else (image, objects, extra)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        image, objects, extra, *rest = state
        self._load_state(image, objects)
        if extra:
            self.__dict__.update(extra)
        for name, value in (rest[0] if rest else {}).items():
            setattr(self, name, value)

    def __copy__(self) -> Any:
        """An independent graph; opaque attribute values are shared, as ``dict.copy`` does."""
        g = _empty(type(self), self.directed)
        g.__setstate__(self.__getstate__())
        return g

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        g = _empty(type(self), self.directed)
        memo[id(self)] = g
        g.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return g


_core._share_methods(Graph)


def _slot_names(cls: type) -> list[str]:
    """The ``__slots__`` attributes of ``cls`` and its bases (private names
    mangled), as ``copyreg`` finds them for pickle."""
    names = []
    for c in cls.__mro__:
        slots = c.__dict__.get("__slots__", ())
        for n in (slots,) if isinstance(slots, str) else slots:
            if n in ("__dict__", "__weakref__"):
                continue
            if n.startswith("__") and not n.endswith("__"):
                n = f"_{c.__name__.lstrip('_')}{n}"
            names.append(n)
    return names


def _empty(cls: type[Graph], directed: bool) -> Graph:
    """An empty rust-backend graph of class ``cls`` (``Graph`` or a subclass), for unpickling."""
    return cls(directed=directed)


def _restore(cls: type[Graph], directed: bool, image: bytes, objects: list[Any]) -> Graph:
    """Unpickles a rust-backend graph pickled by gli 0.1.0 before the state moved to
    ``__setstate__`` (kept so that those pickles still load)."""
    g = _empty(cls, directed)
    g._load_state(image, objects)
    return g
