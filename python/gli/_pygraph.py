"""The pure-Python reference backend (``Graph(backend="python")``).

Small and obviously correct: it is the oracle the Rust engine is compared
against. One ``RLock`` guards everything; dicts keep insertion order, which
gives the node, adjacency and edge orders DESIGN.md fixes.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

from ._args import (
    _check_id, _flag, _item_id, _item_ref, _lookup_ids, _lookup_items, _name, _text, _utf8, at_item, batch_items,
    names_python_backend, read_items,
)
from ._async import AsyncQueries
from ._batch import BatchOperations
from ._pyalgo import PythonQueries
from ._pyfilter import PythonFilters
from .exceptions import EdgeAlreadyExistsError, EdgeNotFoundError, NodeNotFoundError

__all__ = ["PythonGraph"]

NodeId = Any
MAX_DEPTH = 100


def _items(t: tuple[Any, ...]) -> tuple[Any, ...]:
    """A batch item's tuple as the rust backend reads it: its stored items
    (a subclass's ``__getitem__`` / ``__len__`` overrides are not called)."""
    return t if type(t) is tuple else tuple.__getitem__(t, slice(None))


def _id_text(x: NodeId) -> str:
    """Id ``x`` in an edge name, as stored: an int subclass (an ``IntEnum``)
    as its value in decimal, a str subclass as its text; their own
    ``__str__`` / ``__format__`` are not asked."""
    return int.__repr__(x) if isinstance(x, int) else str.__str__(x)


def _id_or_none(x: object) -> NodeId | None:
    """``_check_id(x)``, or ``None`` when ``x`` cannot be a node id."""
    try:
        return _check_id(x)
    except (TypeError, OverflowError, UnicodeEncodeError):
        return None


def _slot_names(cls: type) -> list[str]:
    """The ``__slots__`` attributes of ``cls`` and its bases (private names
    mangled), as ``copyreg`` finds them for pickle, but for the graph's own
    state (the slots of a class that names it in ``_STATE``: pickle and copy
    handle it themselves)."""
    names = []
    for c in cls.__mro__:
        if "_STATE" in c.__dict__:
            continue
        slots = c.__dict__.get("__slots__", ())
        for n in (slots,) if isinstance(slots, str) else slots:
            if n in ("__dict__", "__weakref__"):
                continue
            if n.startswith("__") and not n.endswith("__"):
                n = f"_{c.__name__.lstrip('_')}{n}"
            names.append(n)
    return names


def slot_values(obj: Any) -> dict[str, Any]:
    """The ``__slots__`` values ``obj``'s class (a subclass) declares and it
    holds, by name, as pickle keeps them for any class."""
    return {n: getattr(obj, n) for n in _slot_names(type(obj)) if hasattr(obj, n)}


def share_attributes(src: Any, dst: Any) -> None:
    """Gives ``dst`` the instance attributes of ``src`` it does not have yet
    (``__dict__`` entries, ``__slots__`` values), shared as ``copy.copy``
    shares them: for a copy of a graph subclass made without its ``__init__``
    (``dst``'s own graph state stays its own)."""
    for k, v in getattr(src, "__dict__", {}).items():
        dst.__dict__.setdefault(k, v)
    for name, value in slot_values(src).items():
        setattr(dst, name, value)


class _List(list):  # type: ignore[type-arg]
    """A stored copy of a native list (opaque lists are never wrapped)."""


class _Dict(dict):  # type: ignore[type-arg]
    """A stored copy of a native dict with str keys."""


def _store(value: Any, name: str, depth: int = 0) -> Any:
    """Native containers are copied (recursively); anything else is kept as is."""
    if type(value) is list:
        if depth >= MAX_DEPTH:
            raise ValueError(_too_deep(name))
        return _List(_store(v, name, depth + 1) for v in value)
    if type(value) is dict and all(isinstance(k, str) for k in value):
        if depth >= MAX_DEPTH:
            raise ValueError(_too_deep(name))
        return _Dict((_utf8(_text(k)), _store(v, name, depth + 1)) for k, v in value.items())
    return value  # a str with lone surrogates too: kept as the object (the rust backend's opaque value)


def _too_deep(name: str) -> str:
    return f"attribute '{name}' is nested more than {MAX_DEPTH} levels deep (a recursive structure?)"


def _read(value: Any) -> Any:
    """Fresh plain copies of stored native containers; opaque values as they are."""
    if type(value) is _List:
        return [_read(v) for v in value]
    if type(value) is _Dict:
        return {k: _read(v) for k, v in value.items()}
    if type(value) is float:
        # A fresh object, as the rust backend makes from its stored f64: the
        # identity shortcut of == then never makes a NaN equal to itself.
        return value * 1.0  # keeps -0.0, inf and NaN
    return value


def _update(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``stored.update(new)``; returns the values it replaces, for the caller
    to drop once the graph is whole (see ``PythonGraph._add_node``)."""
    replaced = {k: stored[k] for k in new if k in stored}
    stored.update(new)
    return replaced


def _read_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _read(v) for k, v in attrs.items()}


def _attrs(attrs: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = {}
    # The dict's own entries, as the rust backend reads them (and as
    # ``dict(attrs)`` does): a subclass's ``items()`` override is not called.
    # Its items as they are when the reading begins, as the rust backend
    # reads them: a collection that the conversions below start may run a
    # finalizer that changes the dict, which then changes nothing here.
    for k, v in list(dict.items(attrs)):
        if not isinstance(k, str):
            raise TypeError(f"{where}attribute names must be str, not {type(k).__name__}")
        try:
            name = _utf8(_text(k))
        except UnicodeEncodeError as e:
            raise ValueError(f"{where}attribute name {_text(k)!r} is not valid UTF-8: {e}") from e
        try:
            out[name] = _store(v, name)
        except UnicodeEncodeError as e:
            raise ValueError(f"{where}attribute {name!r}: {e}") from e
        except ValueError as e:  # nested too deep
            raise ValueError(f"{where}{e}") from e.__cause__
    return out


def _attrs_arg(obj: object, where: str) -> dict[str, Any]:
    if not issubclass(type(obj), dict):  # its own type, not a __class__ it claims (a proxy), as the rust backend checks
        if not isinstance(obj, Mapping):
            raise TypeError(f"{where}: attributes must be a dict or another mapping, not {type(obj).__name__}")
        obj = dict(obj)  # its own keys() and [] (what they raise propagates), as the rust backend reads it
    return _attrs(cast(dict[str, Any], obj), where + ": ")


# fork(): a child must not inherit a graph's lock held by a thread the child
# does not have (nor its write half-done), so the forking thread first takes
# every live graph's lock, oldest first (a thread holding two holds the older
# one's first: a copy or subgraph is made under its source's lock), and both
# processes let them go after. (The rust backend waits at its fork gate
# instead: src/python/fork.rs.)
_live_locks: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_lock_numbers = itertools.count()
_held_for_fork: list[Any] = []


def _graph_lock() -> Any:
    lock = threading.RLock()
    _live_locks[next(_lock_numbers)] = lock
    return lock


def _before_fork() -> None:
    while True:
        try:
            live = sorted(_live_locks.items())
            break
        except RuntimeError:  # another thread made or dropped a graph meanwhile
            continue
    for _, lock in live:
        lock.acquire()
        _held_for_fork.append(lock)


def _after_fork() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class PythonGraph(PythonQueries, PythonFilters, AsyncQueries):
    """Pure-Python graph with the same API and semantics as the Rust backend."""

    # No ``__dict__``, as the rust backend's graph: ``g.name = ...`` is an
    # ``AttributeError`` on both (a subclass has one on both).
    __slots__ = ("_directed", "_lock", "_nodes", "_succ", "_pred", "_edges", "__weakref__")
    _STATE = ("_directed", "_nodes", "_succ", "_pred", "_edges")  # pickled: all but the lock

    def __init__(self, directed: bool = True, backend: str = "python") -> None:
        directed = _flag(directed, "Graph", "directed")
        _name(backend, "Graph", "backend")
        if backend != "python":
            if backend == "rust":
                raise ValueError("PythonGraph is the 'python' backend: use gli.Graph(backend='rust') for the rust one")
            raise ValueError(f"unknown backend {backend!r}: expected 'rust' or 'python'")
        self._directed = directed
        self._lock = _graph_lock()
        self._nodes: dict[NodeId, dict[str, Any]] = {}
        self._succ: dict[NodeId, dict[NodeId, dict[str, Any]]] = {}
        self._pred: dict[NodeId, dict[NodeId, dict[str, Any]]] = {}
        self._edges = 0

    # ------------------------------------------------------------- properties
    @property
    def directed(self) -> bool:
        return self._directed

    @property
    def backend(self) -> str:
        return "python"

    def is_directed(self) -> bool:
        return self._directed

    def __repr__(self) -> str:
        return (
            f"<gli.PythonGraph directed={self._directed} nodes={len(self._nodes)} "
            f"edges={self._edges} backend='python'>"
        )

    def batch_operations(self) -> BatchOperations:
        return BatchOperations(self)

    def to_networkx(self) -> Any:
        """A new ``networkx.DiGraph`` (or ``Graph``) with every node, edge and attribute."""
        from ._nx import to_networkx

        return to_networkx(self)

    @classmethod
    def from_networkx(cls, G: Any, backend: str = "python") -> Any:
        """A new graph of ``backend`` from a NetworkX ``Graph`` / ``DiGraph``."""
        from ._nx import from_networkx

        # A subclass stays itself; another backend builds that backend's graph.
        return from_networkx(G, backend, cls=cls if names_python_backend(backend) else None)  # type: ignore[arg-type]

    # pickle / copy: everything but the lock. An edge's one dict stays shared
    # between its two adjacencies (pickle and deepcopy keep identities). The
    # state is a copy taken under the lock: pickle and deepcopy walk it after
    # the lock is let go, while other threads may write to the graph.
    def __getstate__(self) -> Any:
        with self._lock:
            # The graph's own state, then a subclass's attributes.
            state = {k: getattr(self, k) for k in PythonGraph._STATE}
            state.update(getattr(self, "__dict__", {}))
            state["_nodes"], state["_succ"], state["_pred"] = self._structure_copy()
        slots = slot_values(self)
        return (state, slots) if slots else state

    def __setstate__(self, state: Any) -> None:
        state, slots = state if isinstance(state, tuple) else (state, {})
        state = dict(state)
        # The graph's own state into its slots, with no subclass
        # ``__setattr__`` asked (as the rust backend restores its own); a
        # subclass's attributes into its ``__dict__``, as pickle does.
        for name in PythonGraph._STATE:
            object.__setattr__(self, name, state.pop(name))
        object.__setattr__(self, "_lock", _graph_lock())
        if state:
            self.__dict__.update(state)
        for name, value in slots.items():
            setattr(self, name, value)

    def __copy__(self) -> PythonGraph:
        """An independent graph; attribute values are shared, as ``dict.copy`` does."""
        with self._lock:
            g = self._like()
            g._nodes, g._succ, g._pred = self._structure_copy()
            g._edges = self._edges
            return g

    def _like(self) -> PythonGraph:
        """An empty graph of this one's class and directedness, made as
        pickle makes an object (the class's own ``__init__`` does not run: it
        may take other arguments, or add nodes), with this instance's own
        attributes (``__dict__`` and ``__slots__`` values) shared as
        ``copy.copy`` shares them: for ``copy.copy`` and ``subgraph``."""
        cls = type(self)
        g = cls.__new__(cls)
        PythonGraph.__init__(g, self._directed)
        share_attributes(self, g)
        return g

    # -------------------------------------------------------------- internals
    def _node(self, node_id: object) -> NodeId:
        (node_id,) = _lookup_ids(node_id)
        if node_id not in self._nodes:
            raise NodeNotFoundError(f"Node {node_id!r} not found")
        return node_id

    def _has_edge(self, s: NodeId, t: NodeId) -> bool:
        return s in self._succ and t in self._succ[s]

    def _edge(self, s: object, t: object) -> dict[str, Any]:
        s, t = _lookup_ids(s, t, edge=True)
        if not self._has_edge(s, t):
            raise EdgeNotFoundError(f"Edge {s!r} -> {t!r} not found")
        return self._succ[s][t]

    # Mutations return what they take out of the graph (attribute dicts, or
    # copies holding the replaced values), for the public method to drop
    # once the graph is whole again: dropped midway, a stored value's
    # ``__del__`` that calls back into the graph saw (and wrote into) a
    # half-removed node (an audit; the rust backend queues such releases
    # until the call returns).
    def _add_node(self, node_id: NodeId, attrs: dict[str, Any]) -> Any:
        if node_id in self._nodes:
            return _update(self._nodes[node_id], attrs)
        else:
            self._nodes[node_id] = attrs
            self._succ[node_id] = {}
            self._pred[node_id] = {} if self._directed else self._succ[node_id]

    def _add_edge(self, s: NodeId, t: NodeId, attrs: dict[str, Any]) -> None:
        s, t = self._node(s), self._node(t)
        if self._has_edge(s, t):
            raise EdgeAlreadyExistsError(f"Edge {s!r} -> {t!r} already exists")
        self._succ[s][t] = attrs
        self._pred[t][s] = attrs  # undirected: _pred is _succ, so t sees s
        self._edges += 1

    def _remove_edge(self, s: NodeId, t: NodeId) -> Any:
        s, t = _lookup_ids(s, t, edge=True)
        attrs = self._edge(s, t)
        del self._succ[s][t]
        if s != t or self._directed:
            del self._pred[t][s]
        self._edges -= 1
        return attrs

    def _remove_node(self, node_id: NodeId) -> Any:
        node_id = self._node(node_id)
        taken = [self._nodes[node_id]]
        for t in list(self._succ[node_id]):
            taken.append(self._remove_edge(node_id, t))
        if self._directed:
            for s in list(self._pred[node_id]):
                taken.append(self._remove_edge(s, node_id))
        del self._nodes[node_id], self._succ[node_id], self._pred[node_id]
        return taken

    # --------------------------------------------------------------- mutation
    def add_node(self, node_id: NodeId, /, **attrs: Any) -> NodeId:
        new = _attrs(attrs)  # attributes first, as the rust backend converts them
        key = _check_id(node_id)
        with self._lock:
            taken = self._add_node(key, new)
        del taken  # after the lock (see ``_add_node``)
        return node_id

    def add_edge(self, source: NodeId, target: NodeId, /, **attrs: Any) -> str:
        new = _attrs(attrs)
        s, t = _lookup_ids(source, target)  # endpoints must exist: NodeNotFoundError
        name = f"{_id_text(s)}->{_id_text(t)}"
        with self._lock:
            self._add_edge(s, t, new)
        return name

    def update_node(self, node_id: NodeId, /, **attrs: Any) -> None:
        new = _attrs(attrs)
        with self._lock:
            taken = _update(self._nodes[self._node(node_id)], new)
        del taken  # after the lock (see ``_add_node``)

    def update_edge(self, source: NodeId, target: NodeId, /, **attrs: Any) -> None:
        new = _attrs(attrs)
        with self._lock:
            taken = _update(self._edge(source, target), new)
        del taken

    def remove_node(self, node_id: NodeId, /) -> None:
        with self._lock:
            taken = self._remove_node(node_id)
        del taken

    def remove_edge(self, source: NodeId, target: NodeId, /) -> None:
        with self._lock:
            taken = self._remove_edge(source, target)
        del taken

    def clear(self) -> None:
        with self._lock:
            taken = self._nodes, self._succ, self._pred
            self._nodes, self._succ, self._pred = {}, {}, {}
            self._edges = 0
        del taken

    def batch_add_nodes(self, items: Iterable[Any], /) -> int:
        staged = []
        for i, item in enumerate(batch_items("batch_add_nodes", items)):
            if isinstance(item, tuple):
                item = _items(item)
                if len(item) != 2:
                    raise ValueError(
                        f"batch_add_nodes: item {i}: expected (id, attrs), got a tuple of length {len(item)}"
                    )
                staged.append((_item_id("batch_add_nodes", i, item[0]), _attrs_arg(item[1], f"batch_add_nodes: item {i}")))
            else:
                staged.append((_item_id("batch_add_nodes", i, item), {}))
        with self._lock:
            taken = [self._add_node(node_id, attrs) for node_id, attrs in staged]
        del taken  # the values merges replaced, freed after the lock (see ``_add_node``)
        return len(staged)

    def batch_add_edges(self, items: Iterable[Any], /) -> int:
        staged = []
        for i, item in enumerate(batch_items("batch_add_edges", items)):
            if not isinstance(item, tuple):
                raise TypeError(
                    f"batch_add_edges: item {i}: expected a (source, target[, attrs]) tuple, not {type(item).__name__}"
                )
            item = _items(item)
            if len(item) not in (2, 3):
                raise ValueError(
                    f"batch_add_edges: item {i}: expected (source, target[, attrs]), "
                    f"got a tuple of length {len(item)}"
                )
            attrs = _attrs_arg(item[2], f"batch_add_edges: item {i}") if len(item) == 3 else {}
            staged.append((_item_ref("batch_add_edges", i, item[0]), _item_ref("batch_add_edges", i, item[1]), attrs))
        def add_all() -> int:
            for i, (s, t, a) in enumerate(staged):
                try:
                    self._add_edge(s, t, a)
                except (NodeNotFoundError, EdgeAlreadyExistsError) as e:  # the failing item named
                    raise at_item("batch_add_edges", i, e) from None
            return len(staged)

        return self._locked_atomically(lambda trash: add_all())  # type: ignore[no-any-return]

    def _apply_ops(self, ops: list[tuple[Any, ...]], /) -> None:
        # Like the Rust backend: convert (type-check) every operation first,
        # then apply them in order; the first failure undoes everything.
        staged = [self._convert_op(i, op) for i, op in enumerate(ops)]
        self._locked_atomically(lambda trash: self._run_ops(staged, trash))

    @staticmethod
    def _convert_op(index: int, op: tuple[Any, ...]) -> tuple[Any, ...]:
        def bad(what: str) -> TypeError:
            return TypeError(f"batch_operations: item {index}: {what}")

        if not isinstance(op, tuple):
            raise bad(f"expected a tuple, not {type(op).__name__}")
        op = _items(op)
        if not op:
            raise bad("empty operation")
        code, *args = op
        if not isinstance(code, str):
            raise bad(f"opcode must be a str, not {type(code).__name__}")
        arity = {"add_node": 2, "update_node": 2, "add_edge": 3, "update_edge": 3, "remove_node": 1, "remove_edge": 2}
        if code not in arity:
            raise ValueError(f"batch_operations: item {index}: unknown operation '{code}'")
        if len(args) != arity[code]:
            raise ValueError(f"batch_operations: item {index}: {code} takes {arity[code]} fields, got {len(args)}")
        # Ids to look up pass as they are (``_item_ref``): one no node can have
        # fails the operation when it runs, as the missing node or edge it names.
        check = _item_id if code == "add_node" else _item_ref
        if code in ("add_node", "update_node", "add_edge", "update_edge"):
            *ids, attrs = args
            checked = [check("batch_operations", index, x) for x in ids]
            return (code, *checked, _attrs_arg(attrs, f"batch_operations: item {index} ({code})"))
        return (code, *(check("batch_operations", index, x) for x in args))

    def _run_ops(self, ops: list[tuple[Any, ...]], trash: list[Any]) -> None:
        """Applies ``ops`` in order; what they replace or remove goes to
        ``trash``, for the caller to free after the lock."""
        for i, op in enumerate(ops):
            try:
                trash.append(self._run_op(op))
            except (NodeNotFoundError, EdgeNotFoundError, EdgeAlreadyExistsError) as e:  # the failing operation named
                raise at_item("batch_operations", i, e) from None

    def _run_op(self, op: tuple[Any, ...]) -> Any:
        """Applies one operation; returns what it replaced or removed."""
        code, *args = op
        if code == "add_node":
            return self._add_node(args[0], args[1])
        if code == "update_node":
            return _update(self._nodes[self._node(args[0])], args[1])
        if code == "add_edge":
            return self._add_edge(args[0], args[1], args[2])
        if code == "update_edge":
            return _update(self._edge(args[0], args[1]), args[2])
        if code == "remove_node":
            return self._remove_node(args[0])
        return self._remove_edge(args[0], args[1])

    def _structure_copy(self) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        """Copies of the node, successor and predecessor maps: attribute dicts
        copied shallowly (stored values are never mutated in place), an edge's
        one dict still shared between its two adjacencies."""
        copies: dict[int, dict[str, Any]] = {}

        def cp(d: dict[str, Any]) -> dict[str, Any]:
            return copies.setdefault(id(d), dict(d))

        nodes = {n: dict(a) for n, a in self._nodes.items()}
        succ = {n: {t: cp(a) for t, a in nbrs.items()} for n, nbrs in self._succ.items()}
        if self._directed:
            pred = {n: {u: cp(a) for u, a in nbrs.items()} for n, nbrs in self._pred.items()}
        else:
            pred = {n: succ[n] for n in succ}
        return nodes, succ, pred

    def _locked_atomically(self, work: Callable[[list[Any]], Any]) -> Any:
        """``work(trash)`` under the lock, through ``_atomically``; what it
        and ``work`` put in ``trash`` is freed after the lock (a freed value's
        ``__del__`` may use the graph)."""
        trash: list[Any] = []
        try:
            with self._lock:
                return self._atomically(lambda: work(trash), trash)
        finally:
            del trash

    def _atomically(self, work: Any, trash: list[Any]) -> Any:
        """Runs ``work`` on the live state; on any error restores the state as it
        was. Attribute dicts are copied shallowly (values are never mutated in
        place) and an edge's one dict stays shared between its two adjacencies.
        The state not kept (the copy, or the state the error left) goes to
        ``trash``, for the caller to free after the lock: freeing a value runs
        its ``__del__``, which may wait for another thread using the graph (an
        audit: that deadlocked, where single calls free after the lock)."""
        nodes, succ, pred = self._structure_copy()
        edges = self._edges
        try:
            out = work()
        except BaseException:
            trash.append((self._nodes, self._succ, self._pred))
            self._nodes, self._succ, self._pred, self._edges = nodes, succ, pred, edges
            raise
        trash.append((nodes, succ, pred))
        return out

    # ----------------------------------------------------------- point queries
    # Counts and membership take the lock too: a batch applies item by item
    # under it, and a reader must see all of a batch or none of it.
    def has_node(self, node_id: object, /) -> bool:
        with self._lock:
            return _id_or_none(node_id) in self._nodes

    def __contains__(self, node_id: object) -> bool:
        return self.has_node(node_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._nodes)

    def __iter__(self) -> Iterator[NodeId]:
        return iter(self.nodes())

    def node_count(self) -> int:
        with self._lock:
            return len(self._nodes)

    def edge_count(self) -> int:
        with self._lock:
            return self._edges

    def has_edge(self, source: object, target: object, /) -> bool:
        with self._lock:
            s, t = _id_or_none(source), _id_or_none(target)
            return s is not None and t is not None and self._has_edge(s, t)

    def get_node(self, node_id: NodeId, /) -> dict[str, Any]:
        with self._lock:
            return _read_attrs(self._nodes[self._node(node_id)])

    def get_edge(self, source: NodeId, target: NodeId, /) -> dict[str, Any]:
        with self._lock:
            return _read_attrs(self._edge(source, target))

    def get_nodes_batch(self, ids: Iterable[NodeId], /) -> list[dict[str, Any]]:
        # The whole iterable is read and type-checked before any lookup, as
        # in the rust backend: a bad id anywhere wins over a missing one.
        wanted = _lookup_items("get_nodes_batch", read_items("get_nodes_batch", ids))
        with self._lock:
            out = []
            for i, x in enumerate(wanted):
                try:
                    out.append(self.get_node(x))
                except NodeNotFoundError as e:  # the missing id named with its item
                    raise at_item("get_nodes_batch", i, e) from None
            return out

    batch_query_nodes = get_nodes_batch

    def nodes(self, data: bool = False) -> list[Any]:
        data = _flag(data, "nodes", "data")
        with self._lock:
            if data:
                return [(n, _read_attrs(a)) for n, a in self._nodes.items()]
            return list(self._nodes)

    def _edge_items(self) -> Iterator[tuple[NodeId, NodeId, dict[str, Any]]]:
        """``(s, t, stored attrs)`` in NetworkX's order: by source in node
        order, then by insertion; undirected edges once. Hold the lock."""
        done: set[NodeId] = set()
        for s, nbrs in self._succ.items():
            for t, attrs in nbrs.items():
                if self._directed or t not in done:
                    yield s, t, attrs
            done.add(s)

    def edges(self, data: bool = False) -> list[Any]:
        data = _flag(data, "edges", "data")
        with self._lock:
            if data:
                return [(s, t, _read_attrs(a)) for s, t, a in self._edge_items()]
            return [(s, t) for s, t, _ in self._edge_items()]

    def successors(self, node_id: NodeId, /) -> list[NodeId]:
        with self._lock:
            return list(self._succ[self._node(node_id)])

    def predecessors(self, node_id: NodeId, /) -> list[NodeId]:
        with self._lock:
            return list(self._pred[self._node(node_id)])

    def neighbors(self, node_id: NodeId, /) -> list[NodeId]:
        return self.successors(node_id)

    def in_degree(self, node_id: NodeId, /) -> int:
        with self._lock:
            if not self._directed:
                return self.degree(node_id)
            return len(self._pred[self._node(node_id)])

    def out_degree(self, node_id: NodeId, /) -> int:
        with self._lock:
            if not self._directed:
                return self.degree(node_id)
            return len(self._succ[self._node(node_id)])

    def degree(self, node_id: NodeId, /) -> int:
        with self._lock:
            n = self._node(node_id)
            if self._directed:
                return len(self._succ[n]) + len(self._pred[n])
            return len(self._succ[n]) + (n in self._succ[n])
