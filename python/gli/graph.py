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
import inspect
import threading
import types
from collections.abc import Mapping, Sequence
from typing import Any, Self, cast

from . import _core
from ._args import names_python_backend
from ._async import AsyncQueries
from ._batch import BatchOperations
from ._pygraph import PythonGraph, share_attributes, slot_values

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

    # Each subclass holds its own copies of the native methods
    # (`_core._share_methods`), which would hide a change made to a class above
    # it: patching `Graph.k_hop` (a mock, a wrapper) would not reach a
    # subclass defined before. A change to a class's attribute drops the
    # copies of that name below it, then shares again whatever still resolves
    # to the native method (so a restored method is fast again).

    def __setattr__(cls, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        _reshare(cls, name)

    def __delattr__(cls, name: str) -> None:
        super().__delattr__(name)
        _reshare(cls, name)


_resharing = threading.local()  # set while `_reshare` installs copies (no re-entry)
_NATIVE_METHODS = frozenset(k for k, v in vars(_core.Graph).items() if type(v) is types.MethodDescriptorType)


def _reshare(cls: type, name: str) -> None:
    if name not in _NATIVE_METHODS or getattr(_resharing, "active", False):
        return
    below: dict[type, None] = {}  # every class below `cls`
    todo: list[type] = cls.__subclasses__()
    while todo:
        sub = todo.pop()
        if sub not in below:
            below[sub] = None
            todo.extend(sub.__subclasses__())
    if not below:  # a class being made (its own methods shared one by one)
        return
    _resharing.active = True
    try:
        for sub in below:
            own = vars(sub).get(name)
            if type(own) is types.MethodDescriptorType and own.__objclass__ is sub:
                type.__delattr__(sub, name)  # a shared copy, not the subclass's own override
        for sub in below:
            _core._share_methods(sub)
    finally:
        _resharing.active = False


class Graph(_core.Graph, AsyncQueries, metaclass=_GraphType):
    """A directed or undirected graph whose engine is Rust (or pure Python).

    ``Graph(directed=True, backend="rust")``. See the README for the API.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _core._share_methods(cls)  # a user's subclass calls as fast as Graph itself

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        forced = _forced_directed(cls)
        if forced is not None:  # a copy's empty graph, through a subclass's own __new__
            return super().__new__(cls, forced, "rust")
        if cls.__init__ is Graph.__init__:  # Graph, or a subclass without an __init__
            try:
                directed, backend = _graph_args(*args, **kwargs)
            except TypeError as e:
                raise TypeError(str(e).replace(_graph_args.__name__, cls.__name__, 1)) from None
        else:
            # A subclass's own __init__ may take other arguments (as NetworkX
            # graph subclasses often do): its `directed` and `backend`
            # parameters, if it has them, choose the graph made here.
            directed, backend = _construction_args(cls, args, kwargs)
        # backend="python" returns the reference backend, which has the same
        # methods and semantics; it is typed as a Graph for the same reason.
        if names_python_backend(backend):
            if cls is not Graph:  # its methods would be silently lost on a PythonGraph
                raise TypeError(
                    f"{cls.__name__}(backend='python'): a subclass of Graph extends the rust backend;"
                    " subclass gli.PythonGraph to extend the reference backend"
                )
            return cast(Self, PythonGraph(directed=directed))
        # The native constructor validates ``backend`` (ValueError if unknown).
        return super().__new__(cls, directed, backend)

    def __init__(self, directed: bool | None = None, backend: str = "rust", *args: Any, **kwargs: Any) -> None:
        """The graph is made in ``__new__``; this lets a subclass's own
        ``__init__`` call ``super().__init__(directed)``, and refuses a
        ``directed`` that ``__new__`` could not have seen."""
        if directed is not None and directed != self.directed:
            made = "directed" if self.directed else "undirected"
            raise ValueError(
                f"{type(self).__name__}: Graph.__init__ got directed={directed!r}, but the graph was made {made}"
                f" by Graph.__new__, from the arguments {type(self).__name__}() was called with: give"
                f" {type(self).__name__}.__init__ a `directed` parameter and pass it on"
            )

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
        slots = slot_values(self)
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


def _graph_args(directed: bool = True, backend: str = "rust") -> tuple[bool, str]:
    """``Graph(...)``'s arguments, bound as Python binds them."""
    return directed, backend


def _construction_args(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The ``directed`` and ``backend`` a call ``cls(*args, **kwargs)`` gives
    ``cls.__init__`` (a subclass's own), by binding them to its signature:
    the values of its parameters of those names (their defaults if not
    given), else ``True`` and ``"rust"``. Arguments that do not bind are left
    for ``__init__`` to refuse."""
    signature = inspect.signature(cls.__dict__.get("__init__") or cls.__init__)  # type: ignore[misc]
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return True, "rust"
    bound.apply_defaults()
    found = dict(bound.arguments)
    extra: tuple[Any, ...] = ()
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            found = {**found.pop(p.name, {}), **found}
        elif p.kind is p.VAR_POSITIONAL:
            extra = found.pop(p.name, ())
    if extra and "directed" not in found:
        # `__init__(self, *args, **kwargs)` passing them on: the positional
        # ones are Graph's (directed, backend), if they bind as such.
        try:
            return _graph_args(*extra, **{k: found[k] for k in ("backend",) if k in found})
        except TypeError:
            pass
    return found.get("directed", True), found.get("backend", "rust")


# The class and directedness `_empty` is making, per thread: the next
# `Graph.__new__` for that class (from a subclass's own `__new__`) makes
# the graph with them, whatever arguments it was passed.
_making = threading.local()


def _forced_directed(cls: type) -> bool | None:
    made = getattr(_making, "graph", None)
    if made is None or made[0] is not cls:
        return None
    del _making.graph
    return bool(made[1])


def _empty(cls: type[Graph], directed: bool) -> Graph:
    """An empty rust-backend graph of class ``cls`` (``Graph`` or a subclass),
    made as pickle makes an object: by ``cls.__new__(cls)``, without running
    ``cls.__init__`` (a subclass's may take other arguments, or add nodes);
    its state comes from the graph it copies. ``Graph``'s own ``__new__``
    would read arguments as the subclass's ``__init__`` takes them: the
    native constructor it ends in is called instead, and a subclass's own
    ``__new__`` reaches ``Graph.__new__``, which makes a ``directed`` graph
    then, whatever it is passed."""
    if cls.__new__ is Graph.__new__:
        return _core.Graph.__new__(cls, directed)
    try:  # a __new__ that needs an argument gets `directed`, as it used to
        inspect.signature(cls.__new__).bind(cls)
        args: tuple[Any, ...] = ()
    except (TypeError, ValueError):
        args = (directed,)
    _making.graph = (cls, directed)
    try:
        return cls.__new__(cls, *args)
    finally:
        _making.__dict__.pop("graph", None)


def _like(g: Graph) -> Graph:
    """An empty graph of ``g``'s class and directedness for ``g.subgraph``,
    made as a copy is (``_empty``), with ``g``'s instance attributes
    (``__dict__`` and ``__slots__`` values) shared as ``copy.copy`` shares
    them. The native ``subgraph`` calls it."""
    new = _empty(type(g), g.directed)
    share_attributes(g, new)
    return new


def _restore(cls: type[Graph], directed: bool, image: bytes, objects: list[Any]) -> Graph:
    """Unpickles a rust-backend graph pickled by gli 0.1.0 before the state moved to
    ``__setstate__`` (kept so that those pickles still load)."""
    g = _empty(cls, directed)
    g._load_state(image, objects)
    return g
