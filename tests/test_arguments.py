"""Arguments at the edges of what is valid: both backends accept and refuse the
same values, with the same exception types (the reference backend is the oracle
of the differential tests, so it must agree on errors too)."""

from __future__ import annotations

import enum
import weakref
from typing import Any

import numpy as np
import pytest

import gli

LONE = "ab\udcff"  # a lone surrogate: a str that is not valid Unicode text


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


def test_counts_are_non_negative_ints(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.add_edge(*(g.add_node(0), g.add_node(1)))
    for call, name in ((lambda v: g.k_hop(0, v), "k"), (lambda v: g.bfs(0, v), "depth_limit"),
                       (lambda v: g.pagerank(max_iter=v), "max_iter")):
        with pytest.raises(ValueError, match=f"{name} must be >= 0, got -1"):
            call(-1)
        # a bool is no count (np.bool_ has no __index__); None is no limit to bfs
        for bad in (1.5, "2", True, False, np.bool_(True), *([None] if name != "depth_limit" else [])):
            with pytest.raises(TypeError, match=f"^[a-z_]+: {name} must be an int, not {type(bad).__name__}$"):
                call(bad)
    with pytest.raises(TypeError, match="^k_hop: k must be an int, not bool$"):
        g.k_hop(0, True)
    for call, name in ((lambda v: g.pagerank(alpha=v), "pagerank: alpha"), (lambda v: g.pagerank(tol=v), "pagerank: tol"),
                       (lambda v: g.node_attribute_array("w", default=v), "node_attribute_array: default")):
        # a bool is no real number here, as it is no count above
        # an array of more than one element refuses float() (from NumPy 2.4,
        # any array of one or more dimensions): no real number either (the
        # python backend used to let numpy's own message through)
        # (None is NaN to node_attribute_array, as to batch.column: below)
        nones = [] if name.startswith("node_attribute_array") else [None]
        for bad in ("0.5", *nones, [1.0], True, False, np.bool_(True), np.array([-1.0, 2.0]), np.array([[0.5, 0.5]])):
            with pytest.raises(TypeError, match=f"^{name} must be a real number, not {type(bad).__name__}$"):
                call(bad)
        assert call(np.array(0.5)) is not None  # a 0-d array is a real number
    assert np.isnan(g.node_attribute_array("no such attribute", default=None)).all()
    with pytest.raises(TypeError, match="^set_filter_threads: n must be an int, not float$"):
        gli.set_filter_threads(1.5)  # type: ignore[arg-type]
    assert g.k_hop(0, 0) == [] and g.bfs(0, 0) == [0] and g.k_hop(0, np.int64(1)) == [1]
    # argument errors come before the missing node's
    with pytest.raises(ValueError, match="k must be"):
        g.k_hop("missing", -1)


def test_ints_beyond_64_bits_as_counts_and_floats(backend: str) -> None:
    # A count beyond 64 bits bounds nothing; a negative one, or a float
    # argument too large for a float, is an error naming argument and value.
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([0, 1, 2])
    g.batch_add_edges([(0, 1), (1, 2)])
    assert g.k_hop(0, 2**64) == [1, 2] and g.bfs(0, depth_limit=2**70) == [0, 1, 2]
    assert len(g.pagerank(max_iter=2**64)) == 3
    for call, name in ((lambda v: g.k_hop(0, v), "k"), (lambda v: g.bfs(0, v), "depth_limit"),
                       (lambda v: g.pagerank(max_iter=v), "max_iter"), (lambda v: gli.set_filter_threads(v), "n")):
        with pytest.raises(ValueError, match=f"{name} must be >= 0, got {-2**64}$"):
            call(-(2**64))
    big = 2**2000
    for call, name in ((lambda: g.pagerank(alpha=big), "pagerank: alpha"), (lambda: g.pagerank(tol=big), "pagerank: tol"),
                       (lambda: g.node_attribute_array("w", default=-big), "node_attribute_array: default")):
        with pytest.raises(OverflowError, match=f"^{name} does not fit in a float, got -?{str(big)[:30]}"):
            call()


def test_flags_and_names_are_checked(backend: str) -> None:
    with pytest.raises(TypeError, match="^Graph: directed must be a bool, not int$"):
        gli.Graph(directed=0, backend=backend)  # type: ignore[arg-type]
    g = gli.Graph(directed=np.bool_(False), backend=backend)  # type: ignore[arg-type]
    assert not g.directed
    g.add_edge(*(g.add_node(1), g.add_node(2)), w=1)
    with pytest.raises(TypeError, match="^nodes: data must be a bool, not int$"):
        g.nodes(data=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^filter_nodes: vectorized must be a bool, not int$"):
        g.filter_nodes(lambda ids, b: [True] * len(ids), vectorized=1)  # type: ignore[arg-type]
    for call in (lambda: g.pagerank(weight=3), lambda: g.shortest_path_lengths(1, weight=3),
                 lambda: g.node_attribute_array(3), lambda: g.pagerank(alpha="x")):
        with pytest.raises(TypeError):
            call()  # type: ignore[no-untyped-call]
    with pytest.raises(ValueError, match=r"^pagerank: alpha must be in \[0, 1\], got nan$"):
        g.pagerank(alpha=float("nan"))
    with pytest.raises(ValueError, match=r"^pagerank: alpha must be in \[0, 1\], got 2$"):
        g.pagerank(alpha=2)
    class Shown(float):  # a float subclass: its own text, and its stored value read as the value
        def __str__(self) -> str:
            return "Shown-str"

        def __format__(self, spec: str) -> str:
            return "Shown-format"

        def __float__(self) -> float:
            raise AssertionError("the stored value is read, not __float__")

    with pytest.raises(ValueError, match=r"^pagerank: alpha must be in \[0, 1\], got Shown-str$"):
        g.pagerank(alpha=Shown(2.0))
    assert g.pagerank(alpha=Shown(0.85)) == g.pagerank()
    # a tolerance that can never be met is refused at once, not after max_iter rounds
    # the messages show the value as given: an int stays an int
    for tol, shown in ((-1, "-1"), (float("nan"), "nan"), (-1e-300, "-1e-300"), (np.int64(-2), "-2")):
        with pytest.raises(ValueError, match=f"^pagerank: tol must be >= 0, got {shown}$"):
            g.pagerank(tol=tol)
    with pytest.raises(gli.ConvergenceError):  # 0 is a tolerance: no ValueError
        g.pagerank(tol=0.0, max_iter=0)


def test_bools_and_wide_ints_are_not_numeric(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([(1, {"f": True, "v": 2**70}), (2, {"f": False, "v": 3}), (3, {"v": 0.5})])
    g.add_edge(1, 2, w=2**64)
    g.add_edge(2, 3, w=-1.0)
    with pytest.raises(TypeError, match="not numeric \\(a Python object that is not a number\\)"):
        g.shortest_path_length(1, 2, weight="w")
    with pytest.raises(ValueError, match="negative weight -1 on edge 2 -> 3"):
        g.shortest_path_lengths(2, weight="w")
    assert np.isnan(g.node_attribute_array("f")).all()
    assert g.get_node_values_as_array("v").tolist() == [3.0, 0.5]
    cols: list[Any] = []

    def keep(ids: list[Any], batch: Any) -> list[bool]:
        cols.extend([batch.column("f"), batch.column("f", default=True), batch.column("v")])
        return [True] * len(ids)

    g.filter_nodes(keep, vectorized=True)
    flags, flags_default, values = cols
    assert flags == [True, False, None]  # a bool beside a missing value: a list, not floats
    assert flags_default == [True, False, True]
    assert values == [2**70, 3, 0.5]
    # A bool default is no number, even beside numbers: a list, not 1.0.
    numbers = gli.Graph(backend=backend)
    numbers.batch_add_nodes([(1, {"v": 3}), (2, {"v": 0.5}), 3])
    cols.clear()
    numbers.filter_nodes(lambda ids, batch: cols.extend(
        [batch.column("v", default=d) for d in (True, np.True_, 2)] + [batch.column("gone", default=True)]
    ) or [True] * len(ids), vectorized=True)
    assert cols[:2] == [[3, 0.5, True], [3, 0.5, np.True_]] and cols[3] == [True] * 3
    assert type(cols[2]) is np.ndarray and cols[2].tolist() == [3.0, 0.5, 2.0]


def test_ids_of_int_and_str_subclasses_name_their_plain_value(backend: str) -> None:
    g = gli.Graph(backend=backend)
    assert g.add_node(Color.RED) is Color.RED
    g.add_node(Name("n"))
    assert g.add_edge(Color.RED, Name("n")) == f"{Color.RED}->n"
    assert [type(n) for n in g.nodes()] == [int, str] and g.nodes() == [1, "n"]
    assert g.has_node(1) and g.has_edge(1, "n") and g.successors(Color.RED) == ["n"]
    assert [type(n) for n in g.bfs(Color.RED)] == [int, str]
    g.remove_node(Name("n"))
    assert g.nodes() == [1]


def test_text_that_is_not_valid_unicode_is_refused(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.add_node("a", s="x")
    before = g.nodes(data=True)
    assert not g.has_node(LONE) and LONE not in g
    # As an id or a name (a value is kept: see test_api.py).
    for call in (lambda: g.add_node(LONE), lambda: g.add_node("b", **{LONE: 1}),
                 lambda: g.add_node("b", s=[{LONE: 1}]), lambda: g.node_attribute_array(LONE)):
        with pytest.raises(ValueError, match="surrogates not allowed"):
            call()
    # In a batch it is the same UnicodeEncodeError, the item named in its reason.
    with pytest.raises(UnicodeEncodeError, match=r"position 2: surrogates not allowed \(batch_add_nodes: item 1\)$") as e:
        g.batch_add_nodes(["b", LONE])
    assert (e.value.object, e.value.start, e.value.end) == (LONE, 2, 3)
    with pytest.raises(UnicodeEncodeError, match=r"\(batch_operations: item 0\)$"):
        with g.batch_operations() as ops:
            ops.add_node(LONE)
    # No node can have such an id: a lookup finds it missing.
    with pytest.raises(gli.NodeNotFoundError, match=r"^Node 'ab\\udcff' not found$"):
        g.get_node(LONE)
    assert g.nodes(data=True) == before


def test_vectorized_batches_take_int_and_slice_indices_not_bools(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([(i, {"v": i}) for i in range(5)])
    seen: list[Any] = []

    def pred(ids: list[Any], batch: Any) -> list[bool]:
        seen.append(batch[np.int64(1)]["v"])
        for bad in (True, "1", 1.0, None):
            with pytest.raises(TypeError, match=f"^batch indices must be integers or slices, not {type(bad).__name__}$"):
                batch[bad]
        rows = [dict(v) for v in batch]
        for part in (slice(None), slice(1, 3), slice(None, None, -2), slice(-2, 100), slice(4, 1), slice(None, None, 3)):
            got = batch[part]
            assert type(got) is list and [dict(v) for v in got] == rows[part], part
        with pytest.raises(ValueError, match="slice step cannot be zero"):
            batch[::0]
        return [True] * len(ids)

    assert g.filter_nodes(pred, vectorized=True) == [0, 1, 2, 3, 4] and seen == [1]

    class Bad:
        def __len__(self) -> int:
            raise ZeroDivisionError("from __len__")

    with pytest.raises(ZeroDivisionError, match="from __len__"):  # the user's own error, unchanged
        g.filter_nodes(lambda ids, b: Bad(), vectorized=True)


def test_either_backend_is_a_graph(backend: str) -> None:
    g = gli.Graph(backend=backend)
    assert isinstance(g, gli.Graph) and weakref.ref(g)() is g
    assert issubclass(gli.PythonGraph, gli.Graph) and not isinstance(object(), gli.Graph)

    class Mine(gli.Graph):
        pass

    assert not isinstance(gli.Graph(backend="python"), Mine)
    with pytest.raises(TypeError, match="subclass gli.PythonGraph"):
        Mine(backend="python")


class _BadLen:
    """An iterable whose ``__len__`` lies, raises or is negative."""

    def __init__(self, items: list[Any], length: Any) -> None:
        self.items, self.length = items, length

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        if isinstance(self.length, Exception):
            raise self.length
        return self.length  # type: ignore[no-any-return]


@pytest.mark.parametrize("length", [1000, 0, -1, ValueError("len boom")])
def test_batches_are_read_by_iteration_whatever_len_says(backend: str, length: Any) -> None:
    g = gli.Graph(backend=backend)
    g.batch_add_nodes(_BadLen([(1, {"a": 1}), 2, 3], length))
    g.batch_add_edges(_BadLen([(1, 2), (2, 3)], length))
    assert g.nodes() == [1, 2, 3] and g.edge_count() == 2
    assert g.get_nodes_batch(_BadLen([1, 2], length)) == [{"a": 1}, {}]
    assert g.subgraph(_BadLen([1, 2], length)).edges() == [(1, 2)]


class _JunkList(np.ndarray):  # type: ignore[type-arg]
    """An ndarray subclass whose ``tolist()`` makes no list."""

    def tolist(self) -> Any:  # type: ignore[override]
        return 5


class _JunkRows(np.ndarray):  # type: ignore[type-arg]
    def tolist(self) -> Any:  # type: ignore[override]
        return [[1, 2], 3]


class _Rows(list):  # type: ignore[type-arg]
    pass


class _SubclassList(np.ndarray):  # type: ignore[type-arg]
    def tolist(self) -> Any:  # type: ignore[override]
        return _Rows([1, 2])


_KEPT: list[Any] = [[1, 2], [2, 1]]


class _KeptRows(np.ndarray):  # type: ignore[type-arg]
    """``tolist()`` hands out a list it keeps."""

    def tolist(self) -> Any:  # type: ignore[override]
        return _KEPT


def test_an_arrays_tolist_that_makes_no_list_is_named(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([1, 2])
    calls = {"batch_add_nodes": g.batch_add_nodes, "batch_add_edges": g.batch_add_edges,
             "get_nodes_batch": g.get_nodes_batch, "subgraph": g.subgraph}
    for name, call in calls.items():
        with pytest.raises(TypeError, match=f"^{name}: _JunkList.tolist\\(\\) returned int, not a list$"):
            call(np.array([1, 2]).view(_JunkList))
    with pytest.raises(TypeError, match="^batch_add_edges: _JunkRows.tolist\\(\\) returned a row of type int, not a list$"):
        g.batch_add_edges(np.array([[1, 2], [2, 1]]).view(_JunkRows))
    # exactly a list, as numpy makes: a subclass could index and iterate differently
    with pytest.raises(TypeError, match="^subgraph: _SubclassList.tolist\\(\\) returned _Rows, not a list$"):
        g.subgraph(np.array([1, 2]).view(_SubclassList))
    assert g.nodes() == [1, 2] and g.edge_count() == 0
    # the list tolist() returned is read, never rewritten
    assert g.batch_add_edges(np.array([[1, 2], [2, 1]]).view(_KeptRows)) == 2
    assert _KEPT == [[1, 2], [2, 1]] and all(type(row) is list for row in _KEPT)


class _IndexRaises:
    def __index__(self) -> int:
        raise ZeroDivisionError("user __index__ failed")


def test_counts_and_indices_from_arrays_and_failing_index(backend: str) -> None:
    # A one-element array has __index__ and refuses: a wrong type, named as
    # any other; what a user's __index__ raises otherwise propagates.
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([1, 2])
    g.add_edge(1, 2)
    for bad in (np.array([1]), np.array([[1]])):
        with pytest.raises(TypeError, match="^k_hop: k must be an int, not ndarray$"):
            g.k_hop(1, bad)
        with pytest.raises(TypeError, match="^pagerank: max_iter must be an int, not ndarray$"):
            g.pagerank(max_iter=bad)
        with pytest.raises(TypeError, match="^filter_nodes: batch_size must be an int or None, not ndarray$"):
            g.filter_nodes(lambda n, a: True, batch_size=bad)
    seen: list[Any] = []

    def indexing(ids: Any, batch: Any) -> list[bool]:
        for bad in (np.array([0]), _IndexRaises()):
            try:
                batch[bad]
            except Exception as e:  # noqa: BLE001 - the error itself is checked below
                seen.append((type(e).__name__, str(e)))
        return [True] * len(ids)

    g.filter_nodes(indexing, vectorized=True)
    assert seen == [("TypeError", "batch indices must be integers or slices, not ndarray"),
                    ("ZeroDivisionError", "user __index__ failed")]
    for call in (lambda: g.k_hop(1, _IndexRaises()), lambda: g.filter_nodes(batch_size=_IndexRaises()),
                 lambda: g.filter_edges(batch_size=_IndexRaises())):
        with pytest.raises(ZeroDivisionError, match="user __index__ failed"):
            call()


def test_batch_inputs_that_are_no_iterable_or_no_tuples_are_named(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([1, 2, 3])
    calls = {"batch_add_nodes": g.batch_add_nodes, "batch_add_edges": g.batch_add_edges,
             "get_nodes_batch": g.get_nodes_batch, "subgraph": g.subgraph}
    for name, call in calls.items():
        for bad in (None, 5):
            with pytest.raises(TypeError, match=f"^{name}: expected an iterable, not {type(bad).__name__}$"):
                call(bad)
    for bad in ([2, 3], "ab"):
        with pytest.raises(TypeError, match=rf"^batch_add_edges: item 1: expected a \(source, target\[, attrs\]\) tuple, not {type(bad).__name__}$"):
            g.batch_add_edges([(1, 2), bad])
    with pytest.raises(TypeError, match="^batch_operations: item 0: opcode must be a str, not int$"):
        g._apply_ops([(5, 1)])  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="^batch_operations: item 0: expected a tuple, not list$"):
        g._apply_ops([["add_node", 9, {}]])  # type: ignore[attr-defined]
    assert g.nodes() == [1, 2, 3] and g.edge_count() == 0


def test_the_backend_is_named_by_a_strs_text() -> None:
    class Lies(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    assert gli.Graph(backend=Lies("rust")).backend == "rust"
    assert gli.Graph(backend=Lies("python")).backend == "python"
    for bad in (np.array(["python"]), np.array("python"), np.array(["python", "rust"])):
        with pytest.raises(TypeError, match="^Graph: backend must be a str, not ndarray$"):
            gli.Graph(backend=bad)  # type: ignore[arg-type]
    # from_networkx too (a review): the python backend's classmethod chose
    # itself for a str subclass whose == says yes to anything
    nx = pytest.importorskip("networkx")
    G = nx.path_graph(3)
    assert gli.PythonGraph.from_networkx(G, Lies("rust")).backend == "rust"
    assert gli.PythonGraph.from_networkx(G, Lies("python")).backend == "python"


def test_a_cancel_tokens_exit_takes_the_three_exception_arguments() -> None:
    t = gli._core.CancelToken()  # the async forms' token (internal)
    with pytest.raises(TypeError):
        t.__exit__()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        t.__exit__(None, None, None, None)  # type: ignore[call-arg]
    with t:
        pass
    assert t.__exit__(None, None, None) is False


class _FloatRefusing(float):
    def __float__(self) -> float:
        raise RuntimeError("user __float__")


def test_a_float_subclass_default_is_read_as_its_stored_value(backend: str) -> None:
    # As the rust backend reads it (PyFloat_AsDouble): the python backend used
    # to call the subclass's own __float__ for a column's default.
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([(1, {"v": 1.0}), 2])
    cols: list[list[float]] = []
    g.filter_nodes(lambda ids, b: (cols.append(b.column("v", default=_FloatRefusing(0.5)).tolist()), [True] * len(ids))[1],
                   vectorized=True)
    assert cols == [[1.0, 0.5]]
    assert g.node_attribute_array("v", _FloatRefusing(0.5)).tolist() == [1.0, 0.5]


def test_numpy_sees_an_attribute_view_as_one_object(backend: str) -> None:
    # An audit: a Mapping written in Python has __getitem__ and __len__, which
    # NumPy took for a sequence of its keys on the python backend: `view ==
    # np.int64(1)` gave an array and `np.float64(1) in batch` raised there.
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([(1, {"v": 1.0, "w": 2}), (2, {"v": 2.0})])
    seen: list[Any] = []

    def look(ids: Any, batch: Any) -> list[bool]:
        a = batch[0]
        seen.append((bool(a == np.int64(1)), a == {"v": 1.0, "w": 2}, np.asarray(a).shape,
                     np.array([a, batch[1]], dtype=object).shape, np.float64(1) in batch,
                     batch.count(np.float64(1))))
        return [True] * len(ids)

    g.filter_nodes(look, vectorized=True)
    assert seen == [(False, True, (), (2,), False, 0)]
