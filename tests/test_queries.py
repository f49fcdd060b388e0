"""Read queries against NetworkX on random graphs (directed and undirected,
weighted and not, with removals), on every backend."""

from __future__ import annotations

import math
from typing import Any
import random

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gli

BACKENDS = ["rust", "python"]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[bool, list[int], list[tuple[int, int, int | float]], list[int]]:
    directed = draw(st.booleans())
    n = draw(st.integers(1, 25))
    nodes = list(range(n))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))
    seen: set[tuple[int, int]] = set()
    edges = []
    for s, t in pairs:
        key = (s, t) if directed or s <= t else (t, s)
        if key in seen:
            continue
        seen.add(key)
        w = draw(st.integers(0, 9))
        edges.append((s, t, w if draw(st.booleans()) else float(w)))  # ints and floats, as NetworkX sums them
    removed = draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
    return directed, nodes, edges, removed


def build(backend: str, spec: tuple[bool, list[int], list[tuple[int, int, int | float]], list[int]]) -> tuple[gli.Graph, nx.Graph]:
    directed, nodes, edges, removed = spec
    g = gli.Graph(directed=directed, backend=backend)
    G: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    for v in nodes:
        g.add_node(v, value=v * 0.5)
        G.add_node(v, value=v * 0.5)
    for s, t, w in edges:
        g.add_edge(s, t, w=w)
        G.add_edge(s, t, w=w)
    for v in removed:
        g.remove_node(v)
        G.remove_node(v)
    return g, G


QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend", BACKENDS)
@QUICK
@given(spec=graphs())
def test_traversals_match_networkx(backend: str, spec) -> None:  # type: ignore[no-untyped-def]
    g, G = build(backend, spec)
    for src in list(G.nodes)[:4]:
        want_bfs = [src] + [v for _, v in nx.bfs_edges(G, src)]
        assert g.bfs(src) == want_bfs
        assert g.bfs(src, depth_limit=1) == [src] + [v for _, v in nx.bfs_edges(G, src, depth_limit=1)]
        assert g.dfs(src) == list(nx.dfs_preorder_nodes(G, src))
        lengths = nx.single_source_shortest_path_length(G, src)
        assert g.shortest_path_lengths(src) == lengths
        assert g.k_hop(src, 2) == [v for v in want_bfs if 1 <= lengths[v] <= 2]
        wl = nx.single_source_dijkstra_path_length(G, src, weight="w")
        got = g.shortest_path_lengths(src, weight="w")
        # the same values, types (an int while every weight on the path is an
        # int, as Python sums them) and settle order
        assert [(k, v, type(v)) for k, v in got.items()] == [(k, v, type(v)) for k, v in wl.items()]
        for t in list(wl)[-2:]:
            d = g.shortest_path_length(src, t, weight="w")
            assert (d, type(d)) == (wl[t], type(wl[t]))


def test_weighted_lengths_are_python_sums(make_graph: Any) -> None:
    """An int while every weight on the path is an int, exact past 64 bits;
    a float once one is a float or missing (DESIGN's 1.0); the source's 0 an
    int; as NetworkX's sums of Python numbers."""
    g = make_graph()
    g.batch_add_nodes(range(6))
    big = 2**62
    g.batch_add_edges([(0, 1, {"w": big}), (1, 2, {"w": big}), (2, 3, {"w": big}), (0, 4, {"w": 1}),
                       (4, 5, {"w": 0.5}), (3, 5, {})])
    G = nx.DiGraph()
    G.add_edges_from((s, t, {"w": d.get("w", 1.0)}) for s, t, d in g.edges(data=True))
    want = nx.single_source_dijkstra_path_length(G, 0, weight="w")
    got = g.shortest_path_lengths(0, weight="w")
    assert [(k, v, type(v)) for k, v in got.items()] == [(k, v, type(v)) for k, v in want.items()]
    assert got == {0: 0, 4: 1, 5: 1.5, 1: big, 2: 2 * big, 3: 3 * big}
    assert type(got[0]) is int and g.shortest_path_length(0, 3, weight="w") == 3 * big  # exact: no float rounding
    assert g.shortest_path_length(0, 0, weight="w") == 0 and type(g.shortest_path_length(0, 0, weight="w")) is int
    # a name no edge has: every edge weighs 1.0
    lengths = g.shortest_path_lengths(0, weight="nothing")
    assert [(v, type(v)) for v in lengths.values()] == [(0, int), (1.0, float), (1.0, float), (2.0, float), (2.0, float),
                                                        (3.0, float)]
    assert type(g.shortest_path_length(0, 0, weight="nothing")) is int
    g.add_edge(5, 0, w=-3)
    with pytest.raises(ValueError, match="^negative weight -3 on edge 5 -> 0$"):
        g.shortest_path_lengths(4, weight="w")


def test_weighted_lengths_compare_exactly_past_2_53(make_graph: Any) -> None:
    """Lengths compare as Python numbers do, exactly between an int and a
    float, as NetworkX's queue compares them: their float values are equal
    here (2**53 + 1 and 2.0**53; 2**53 + 3 and 2.0**53 + 4), yet the int is
    the larger, or the smaller, length."""
    g = make_graph()
    g.batch_add_nodes(range(5))
    edges = [(0, 3, 2**53 + 1), (0, 4, 2.0**53), (0, 1, 2.0**53 + 4), (0, 2, 1), (2, 1, 2**53 + 2)]
    g.batch_add_edges([(s, t, {"w": w}) for s, t, w in edges])
    G = nx.DiGraph()
    G.add_weighted_edges_from(edges, weight="w")
    want = nx.single_source_dijkstra_path_length(G, 0, weight="w")
    got = g.shortest_path_lengths(0, weight="w")
    assert [(k, v, type(v)) for k, v in got.items()] == [(k, v, type(v)) for k, v in want.items()]
    # settled in exact order: 2.0**53 before 2**53 + 1, though pushed after it
    assert list(got.items()) == [(0, 0), (2, 1), (4, 2.0**53), (3, 2**53 + 1), (1, 2**53 + 3)]
    # 2**53 + 3 through node 2 is shorter than 2.0**53 + 4 straight from 0
    assert g.shortest_path(0, 1, weight="w") == nx.shortest_path(G, 0, 1, weight="w") == [0, 2, 1]
    assert g.shortest_path_length(0, 1, weight="w") == 2**53 + 3


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("big", [math.inf, -math.inf])
def test_pagerank_with_an_infinite_weight_is_networkx(backend: str, big: float) -> None:
    # NetworkX scales a row by 1 / its weight sum: 1 / inf is 0, and a row
    # scaled by 0 is dangling (it used to give NaN, then ConvergenceError).
    g, G = gli.Graph(backend=backend), nx.DiGraph()
    g.batch_add_nodes([0, 1, 2, 3])
    G.add_nodes_from([0, 1, 2, 3])
    for s, t, w in ((0, 1, big), (0, 3, 2.0), (1, 0, 1.0), (1, 2, 1.0), (3, 1, 0.5)):
        g.add_edge(s, t, w=w)
        G.add_edge(s, t, w=w)
    want = nx.pagerank(G, weight="w")
    got = g.pagerank(weight="w")
    assert list(got) == list(want)
    assert all(math.isclose(got[k], want[k], rel_tol=1e-9) for k in want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_weight_settled_first_poisons_what_follows_as_in_networkx(backend: str) -> None:
    # heapq pops the NaN entry pushed first: `1.0 < nan` is false, so the
    # later, smaller entry never rises above it.
    g, G = gli.Graph(directed=False, backend=backend), nx.Graph()
    g.batch_add_nodes(["s", "x", "y", "t"])
    for s, t, w in (("s", "x", math.nan), ("s", "y", 1.0), ("y", "t", 1.0), ("x", "t", 1.0)):
        g.add_edge(s, t, w=w)
        G.add_edge(s, t, w=w)
    want = nx.single_source_dijkstra_path_length(G, "s", weight="w")
    got = g.shortest_path_lengths("s", weight="w")
    assert list(got) == list(want) == ["s", "x", "y", "t"]
    assert got["s"] == 0 and got["y"] == 1.0 and math.isnan(got["x"]) and math.isnan(got["t"])
    assert g.shortest_path("s", "t", weight="w") == nx.dijkstra_path(G, "s", "t", weight="w") == ["s", "x", "t"]
    assert math.isnan(g.shortest_path_length("s", "t", weight="w"))


@pytest.mark.parametrize("backend", BACKENDS)
@QUICK
@given(spec=graphs(), nan_share=st.sampled_from([0.1, 0.3, 0.6]), seed=st.integers(0, 2**32))
def test_nan_weights_give_networkx_lengths_paths_and_order(backend: str, spec, nan_share: float, seed: int) -> None:  # type: ignore[no-untyped-def]
    # A NaN distance compares neither less nor greater than any other, so
    # which node settles first, and so every later distance, follows the
    # heap's exact steps: GLI's must be NetworkX's (heapq on tuples).
    directed, nodes, edges, removed = spec
    rnd = random.Random(seed)
    edges = [(s, t, math.nan if rnd.random() < nan_share else w) for s, t, w in edges]
    g, G = build(backend, (directed, nodes, edges, removed))
    for src in list(G.nodes)[:4]:
        try:
            want = nx.single_source_dijkstra_path_length(G, src, weight="w")
        except ValueError:  # NetworkX: "Contradictory paths found" (NaN upset the queue)
            with pytest.raises(ValueError, match="contradictory paths found"):
                g.shortest_path_lengths(src, weight="w")
            continue
        got = g.shortest_path_lengths(src, weight="w")
        assert list(got) == list(want)
        assert all(_same_float(got[k], want[k]) for k in want)
        for t in list(G.nodes)[-3:]:
            if t in want:
                try:
                    path = nx.dijkstra_path(G, src, t, weight="w")
                except ValueError:
                    with pytest.raises(ValueError, match="contradictory paths found"):
                        g.shortest_path(src, t, weight="w")
                    continue
                assert g.shortest_path(src, t, weight="w") == path
                assert _same_float(g.shortest_path_length(src, t, weight="w"), want[t])


def test_a_nan_weight_that_upsets_the_queue_raises_as_networkx_does(make_graph: Any) -> None:
    """0 -> 2 and 0 -> 4 weigh NaN: heapq then pops 3 (at 1.0) before 1 (at
    0.0), and the edge 1 -> 3 reaches a settled node by a shorter path."""
    g = make_graph(directed=False)
    g.batch_add_nodes(range(5))
    edges = [(0, 0, 0.0), (0, 3, 1.0), (0, 2, math.nan), (0, 4, math.nan), (0, 1, 0.0), (1, 3, 0.0)]
    g.batch_add_edges((s, t, {"w": w}) for s, t, w in edges)
    G = nx.Graph()
    G.add_nodes_from(range(5))
    G.add_weighted_edges_from(edges, weight="w")
    with pytest.raises(ValueError, match="Contradictory paths found"):
        nx.single_source_dijkstra_path_length(G, 0, weight="w")
    with pytest.raises(ValueError, match=r"contradictory paths found \(a NaN weight\?\): node 3 was settled at distance 1 before edge 1 -> 3 reached it at 0"):
        g.shortest_path_lengths(0, weight="w")
    assert g.shortest_path_lengths(1, weight="w") == pytest.approx(nx.single_source_dijkstra_path_length(G, 1, weight="w"), nan_ok=True)


@pytest.mark.parametrize("backend", BACKENDS)
@QUICK
@given(spec=graphs())
def test_paths_match_networkx(backend: str, spec) -> None:  # type: ignore[no-untyped-def]
    g, G = build(backend, spec)
    nodes = list(G.nodes)
    for s in nodes[:3]:
        for t in nodes[-3:]:
            if nx.has_path(G, s, t):
                path = g.shortest_path(s, t)
                assert path[0] == s and path[-1] == t
                assert all(G.has_edge(a, b) for a, b in zip(path, path[1:]))
                assert len(path) - 1 == nx.shortest_path_length(G, s, t)
                assert g.shortest_path_length(s, t) == nx.shortest_path_length(G, s, t)
                wpath = g.shortest_path(s, t, weight="w")
                cost = sum(G.edges[a, b]["w"] for a, b in zip(wpath, wpath[1:]))
                assert math.isclose(cost, nx.dijkstra_path_length(G, s, t, weight="w"))
                assert math.isclose(g.shortest_path_length(s, t, weight="w"), cost)
            else:
                with pytest.raises(gli.NoPathError):
                    g.shortest_path(s, t)
                with pytest.raises(gli.NoPathError):
                    g.shortest_path_length(s, t, weight="w")


@pytest.mark.parametrize("backend", BACKENDS)
@QUICK
@given(spec=graphs())
def test_components_and_pagerank_match_networkx(backend: str, spec) -> None:  # type: ignore[no-untyped-def]
    g, G = build(backend, spec)
    comps = g.connected_components()
    want = list(nx.weakly_connected_components(G) if G.is_directed() else nx.connected_components(G))
    assert sorted(map(frozenset, comps), key=sorted) == sorted(map(frozenset, want), key=sorted)
    sizes = [len(c) for c in comps]
    assert sizes == sorted(sizes, reverse=True)
    order = {v: i for i, v in enumerate(g.nodes())}
    for c in comps:
        assert c == sorted(c, key=order.__getitem__)
    for weight in (None, "w"):
        try:
            want_pr = nx.pagerank(G, weight=weight, tol=1e-10, max_iter=1000)
        except nx.PowerIterationFailedConvergence:
            continue
        got_pr = g.pagerank(weight=weight, tol=1e-10, max_iter=1000)
        assert list(got_pr) == g.nodes()
        assert all(math.isclose(got_pr[k], want_pr[k], rel_tol=1e-6, abs_tol=1e-9) for k in want_pr)


@pytest.mark.parametrize("directed", [True, False])
def test_components_of_a_large_graph_match_networkx_and_the_reference(directed: bool) -> None:
    # 60,000 nodes in ~9,000 components of many sizes, with nodes removed
    # and added again (their order then differs from ids'): the rust
    # backend's union-find against a search (the reference) and NetworkX.
    rnd = random.Random(5)
    n = 60_000
    edges = [(rnd.randrange(n), rnd.randrange(n)) for _ in range(int(n * 0.9))]
    gone = rnd.sample(range(n), 500)
    graphs = []
    for backend in BACKENDS:
        g = gli.Graph(directed=directed, backend=backend)
        g.batch_add_nodes(range(n))
        g.batch_add_edges(list(dict.fromkeys(e if directed else tuple(sorted(e)) for e in edges)))
        for v in gone:
            g.remove_node(v)
        g.batch_add_nodes(gone[:250])
        graphs.append(g)
    rust, ref = (g.connected_components() for g in graphs)
    assert rust == ref
    G = graphs[0].to_networkx()
    want = nx.weakly_connected_components(G) if directed else nx.connected_components(G)
    assert sorted(map(frozenset, rust), key=min) == sorted(map(frozenset, want), key=min)
    assert len(rust) > 1_000


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_errors(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.add_node("a")
    g.add_node("b")
    g.add_edge("a", "b", w=-1.0, s="heavy")
    with pytest.raises(gli.NodeNotFoundError, match="'zed'"):
        g.bfs("zed")
    with pytest.raises(gli.NodeNotFoundError):
        g.k_hop("zed", 2)
    with pytest.raises(ValueError, match="negative"):
        g.shortest_path_lengths("a", weight="w")
    with pytest.raises(TypeError, match="numeric"):
        g.shortest_path("a", "b", weight="s")
    with pytest.raises(gli.NoPathError):
        g.shortest_path("b", "a")
    with pytest.raises(gli.ConvergenceError):
        g.pagerank(max_iter=1, tol=1e-300)
    with pytest.raises(TypeError):
        g.bfs(1.5)
    assert issubclass(gli.ConvergenceError, RuntimeError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_subgraph_and_arrays(backend: str) -> None:
    import numpy as np

    g = gli.Graph(backend=backend)
    for i in range(6):
        g.add_node(i, value=i * 1.5) if i != 3 else g.add_node(i, value="x")
    g.add_edge(0, 1, w=2)
    g.add_edge(1, 2)
    g.add_edge(4, 0)
    sub = g.subgraph([2, 0, 1])
    assert type(sub) is type(g)
    assert sub.nodes() == [0, 1, 2]
    assert sub.edges(data=True) == [(0, 1, {"w": 2}), (1, 2, {})]
    sub.add_node(99)
    assert 99 not in g
    with pytest.raises(gli.NodeNotFoundError):
        g.subgraph([0, "nope"])
    arr = g.get_node_values_as_array("value")
    assert arr.dtype == np.float64
    assert arr.tolist() == [0.0, 1.5, 3.0, 6.0, 7.5]
    aligned = g.node_attribute_array("value")
    assert len(aligned) == len(g) and math.isnan(aligned[3])
    assert g.node_attribute_array("value", default=-1.0)[3] == -1.0
    assert g.node_attribute_array("missing", default=0.0).tolist() == [0.0] * 6


@pytest.mark.parametrize("backend", BACKENDS)
@QUICK
@given(spec=graphs(), keep_share=st.sampled_from([0.5, 0.8, 1.0]), seed=st.integers(0, 2**32))
def test_subgraph_keeps_every_kept_nodes_neighbour_order(backend: str, spec, keep_share: float, seed: int) -> None:  # type: ignore[no-untyped-def]
    # Edges copied grouped by source would reorder predecessor (undirected:
    # neighbour) lists, and with them the subgraph's traversals.
    g, _ = build(backend, spec)
    rnd = random.Random(seed)
    keep = [v for v in g.nodes() if rnd.random() < keep_share]
    sub = g.subgraph(keep)
    kept = set(keep)
    assert sub.nodes(data=True) == [(v, d) for v, d in g.nodes(data=True) if v in kept]
    for v in keep:
        assert sub.successors(v) == [w for w in g.successors(v) if w in kept]
        assert sub.predecessors(v) == [u for u in g.predecessors(v) if u in kept]
    assert sorted(map(repr, sub.edges(data=True))) == sorted(
        repr(e) for e in g.edges(data=True) if e[0] in kept and e[1] in kept
    )
    if len(keep) == g.node_count():
        assert all(sub.bfs(v) == g.bfs(v) for v in keep)



def test_numpy_scalars_and_number_subclasses_read_as_their_numbers(make_graph: Any) -> None:
    import enum

    import numpy as np

    class Level(enum.IntEnum):
        HIGH = 3

    g = make_graph(True)
    g.add_node(1, x=np.int64(3), y=np.float64(0.5), z=np.bool_(True), e=Level.HIGH, big=np.uint64(2**64 - 1), f=np.float32(0.25))
    g.add_node(2, x=3, y=0.5, z=True, e=3, big=2**70, f=0.25)
    g.add_node(3, x="3", y=np.complex128(0.5), z=None, e=np.str_("3"), big=None, f=np.float32(1.5))
    # Stored as given, read as numbers.
    assert type(g.get_node(1)["x"]) is np.int64 and g.get_node(1)["e"] is Level.HIGH
    assert g.filter_nodes(where={"x": 3}) == [1, 2]
    assert g.filter_nodes(where={"y": 0.5}) == [1, 2]
    assert g.filter_nodes(where={"z": 1}) == [1, 2]
    assert g.filter_nodes(where={"e": 3}) == [1, 2]
    assert g.filter_nodes(where={"e": "3"}) == [3]  # np.str_("3") == "3"
    # Beyond 64 bits: no number (DESIGN's "numeric"), but equal to the same int.
    assert g.filter_nodes(where={"big": 2**64 - 1}) == [1]
    assert g.filter_nodes(where={"big": 2**70}) == g.filter_nodes(where={"big": 2.0**70}) == [2]
    assert np.isnan(g.node_attribute_array("big")).tolist() == [True, True, True]
    assert g.filter_nodes(where={"f": np.float32(0.25)}) == [1, 2]
    xs = g.node_attribute_array("x")  # "3" is not a number: the default, nan
    assert xs[:2].tolist() == [3.0, 3.0] and np.isnan(xs[2])
    assert g.node_attribute_array("f").tolist() == [0.25, 0.25, 1.5]

    def columns(ids: list[Any], batch: Any) -> list[bool]:
        got = (batch.column("x"), batch.column("z"), batch.column("f"))
        assert got[0] == [3, 3, "3"]  # not all numbers: the values themselves
        assert got[1] == [True, True, None]
        assert got[2].dtype == np.float64 and got[2].tolist() == [0.25, 0.25, 1.5]
        return [True] * len(ids)

    assert g.filter_nodes(columns, vectorized=True) == [1, 2, 3]
    both = lambda ids, b: (b.column("x").dtype, b.column("z").dtype)  # noqa: E731
    assert g.filter_nodes(lambda ids, b: both(ids, b) == (np.int64, np.bool_) and [True, True], where={"x": 3}, vectorized=True) == [1, 2]
    # Weights: numpy floats and ints weigh; a numpy bool is a bool, not a number.
    g.add_edge(1, 2, w=np.float64(2.5))
    g.add_edge(2, 3, w=np.int32(4))
    g.add_edge(1, 3, w=Level.HIGH)
    assert g.shortest_path_length(1, 3, weight="w") == 3.0
    assert g.shortest_path_lengths(1, weight="w") == {1: 0.0, 2: 2.5, 3: 3.0}
    ranks = g.pagerank(weight="w")
    assert math.isclose(sum(ranks.values()), 1.0)
    g.add_edge(3, 1, w=np.bool_(True))
    with pytest.raises(TypeError, match=r"edge 3 -> 1: weight attribute 'w' is not numeric \(bool\)"):
        g.pagerank(weight="w")
    g.update_edge(3, 1, w=np.uint64(2**64 - 1))
    with pytest.raises(TypeError, match="not numeric .a Python object that is not a number"):
        g.shortest_path_length(3, 2, weight="w")


def test_values_that_only_look_like_numbers_are_no_numbers(make_graph: Any) -> None:
    import unittest.mock

    import numpy as np

    when = np.datetime64("2020-01-01", "ns")  # its .item() is an int
    g = make_graph(True)
    g.add_node(0, x=unittest.mock.Mock(spec=int), t=when, d=np.timedelta64(5, "ns"), f=unittest.mock.Mock(spec=np.float32))
    g.add_node(1, x=3, t=3, d=5, f=1.5)
    assert g.filter_nodes(where={"x": 3}) == g.filter_nodes(where={"t": 3}) == g.filter_nodes(where={"d": 5}) == [1]
    assert g.filter_nodes(where={"t": when.item()}) == []
    for name in ("x", "t", "d", "f"):
        values = g.node_attribute_array(name)
        assert np.isnan(values[0]) and not np.isnan(values[1]), name
    g.add_edge(0, 1, w=np.timedelta64(5, "ns"))
    with pytest.raises(TypeError, match="not numeric .a Python object that is not a number"):
        g.shortest_path_length(0, 1, weight="w")


def test_a_column_default_too_big_for_a_float_matters_only_for_a_float_column(make_graph: Any) -> None:
    g = make_graph(True)
    g.batch_add_nodes([(0, {"i": 1, "b": True, "f": 0.5}), (1, {"i": 2, "b": False})])
    got: list[Any] = []

    def columns(ids: list[Any], batch: Any) -> list[bool]:
        got.append(batch.column("i", 10**400).tolist())
        got.append(batch.column("b", 10**400).tolist())
        with pytest.raises(OverflowError):
            batch.column("f", 10**400)
        return [True] * len(ids)

    assert g.filter_nodes(columns, vectorized=True) == [0, 1]
    assert got == [[1, 2], [True, False]]


@pytest.mark.parametrize("directed", [True, False])
def test_whole_graph_reads_after_churn_match_networkx(directed: bool) -> None:
    """Indices are never reused: 100,000 nodes added and removed leave a
    range of empty slots between two groups of kept nodes. Whole-graph reads
    skip them (and pagerank and components switch to per-node tables): the
    results stay NetworkX's, in insertion order."""
    import pickle

    rng = random.Random(5)
    g = gli.Graph(directed=directed)
    G = nx.DiGraph() if directed else nx.Graph()
    for i in range(400):
        if i == 200:
            g.batch_add_nodes(range(-100_000, 0))
            for j in range(-100_000, 0):
                g.remove_node(j)
        g.add_node(i, w=float(i))
        G.add_node(i, w=float(i))
    for _ in range(1200):
        s, t = rng.randrange(400), rng.randrange(400)
        if s != t and not g.has_edge(s, t):
            g.add_edge(s, t, weight=float(rng.randrange(1, 5)))
            G.add_edge(s, t, weight=g.get_edge(s, t)["weight"])
    assert g.nodes() == list(G.nodes)
    assert [(s, t) for s, t in g.edges()] == list(G.edges)
    comps = [set(c) for c in g.connected_components()]
    want = nx.weakly_connected_components(G) if directed else nx.connected_components(G)
    assert sorted(map(sorted, comps)) == sorted(map(sorted, want))
    for weight in (None, "weight"):
        ranks = g.pagerank(weight=weight)
        assert list(ranks) == list(G.nodes)
        expect = nx.pagerank(G, weight=weight)
        assert all(math.isclose(ranks[n], expect[n], rel_tol=1e-6, abs_tol=1e-9) for n in G)
    assert list(g.node_attribute_array("w")) == [float(i) for i in range(400)]
    assert pickle.loads(pickle.dumps(g)).nodes(data=True) == g.nodes(data=True)
