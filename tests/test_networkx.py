"""NetworkX interoperability: ``gli._nx`` conversions and the ``"gli"`` dispatch backend.

Dispatch tests need the ``networkx.backends`` entry point (declared in
pyproject.toml); without it they skip.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

nx = pytest.importorskip("networkx")

import gli  # noqa: E402
from gli._nx import GLIBackendGraph, backend_interface, from_networkx, to_networkx  # noqa: E402

needs_entry_point = pytest.mark.skipif(
    "gli" not in nx.utils.backends.backends,
    reason="the 'gli' networkx.backends entry point is not installed "
    "(add it to pyproject.toml and reinstall)",
)


class Opaque:
    """A non-native attribute value: must survive conversions by identity."""


def _sample_nx(directed: bool) -> Any:
    G = nx.DiGraph() if directed else nx.Graph()
    payload = Opaque()
    G.add_node("b", label="B", obj=payload)
    G.add_node(3)
    G.add_node(-7, weight=1.5, tags=["x", "y"])
    G.add_edge("b", 3, weight=2.0, obj=payload)
    G.add_edge(3, -7)
    G.add_edge(-7, "b", rel={"k": (1, 2)})
    G.add_edge(3, 3, loop=True)
    G.add_node("isolated")
    G.graph["name"] = "dropped"
    return G


def _assert_same_nx(G: Any, H: Any) -> None:
    assert G.is_directed() == H.is_directed()
    assert list(G.nodes(data=True)) == list(H.nodes(data=True))
    assert {(u, v) for u, v in G.edges()} == {(u, v) for u, v in H.edges()}
    for u, v, d in G.edges(data=True):
        assert H.edges[u, v] == d


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("directed", [True, False])
def test_round_trip_nx_gli_nx_keeps_everything_but_graph_attrs(backend: str, directed: bool) -> None:
    G = _sample_nx(directed)
    g = from_networkx(G, backend=backend)
    assert g.is_directed() is directed
    assert g.backend == backend
    assert g.nodes() == list(G)  # node order kept
    assert g.node_count() == G.number_of_nodes() and g.edge_count() == G.number_of_edges()
    assert g.get_node("b")["obj"] is G.nodes["b"]["obj"]  # non-native values by identity
    assert g.get_edge(-7, "b")["rel"] == {"k": (1, 2)}
    H = to_networkx(g)
    assert type(H) is (nx.DiGraph if directed else nx.Graph)
    _assert_same_nx(G, H)
    assert H.graph == {}  # graph-level attributes are dropped
    assert H.nodes["b"]["obj"] is G.nodes["b"]["obj"]
    assert H.edges["b", 3]["obj"] is G.edges["b", 3]["obj"]


@pytest.mark.parametrize("directed", [True, False])
def test_round_trip_gli_nx_gli_keeps_order_and_attrs(make_graph: Any, directed: bool) -> None:
    g = make_graph(directed)
    payload = Opaque()
    g.batch_add_nodes([("z", {"a": 1}), 10, ("y", {"obj": payload}), 2])
    g.batch_add_edges([(10, "z", {"w": 0.5}), ("y", 2), (2, "z", {"obj": payload}), ("z", "y")])
    G = to_networkx(g)
    assert G.is_directed() is directed
    assert list(G.nodes(data=True)) == g.nodes(data=True)
    assert list(G.edges(data=True)) == g.edges(data=True)  # edge order kept
    assert G.nodes["y"]["obj"] is payload and G.edges[2, "z"]["obj"] is payload
    back = from_networkx(G, backend=g.backend)
    assert back.nodes(data=True) == g.nodes(data=True)
    assert back.edges(data=True) == g.edges(data=True)


@pytest.mark.parametrize("directed", [True, False])
def test_round_trips_keep_every_neighbour_order(make_graph: Any, directed: bool) -> None:
    # Edges copied grouped by source would reorder predecessor lists
    # (undirected: neighbour lists), and with them traversals.
    import random

    rnd = random.Random(7)
    g = make_graph(directed)
    g.batch_add_nodes(range(40))
    for _ in range(300):
        s, t = rnd.randrange(40), rnd.randrange(40)
        if not g.has_edge(s, t):
            g.add_edge(s, t, w=rnd.random())
    for s in range(0, 40, 3):
        if g.successors(s):
            g.remove_edge(s, g.successors(s)[0])
    G = to_networkx(g)
    back = from_networkx(G, backend=g.backend)
    for n in range(40):
        assert g.successors(n) == list(G.succ[n] if directed else G.adj[n]) == back.successors(n)
        assert g.predecessors(n) == list(G.pred[n] if directed else G.adj[n]) == back.predecessors(n)
        assert g.bfs(n) == back.bfs(n) == [n] + [v for _, v in nx.bfs_edges(G, n)]
    assert back.edges(data=True) == g.edges(data=True)
    # The audit's example: a triangle's traversal from its last node.
    u = make_graph(directed)
    u.batch_add_nodes("abc")
    u.batch_add_edges([("a", "b"), ("b", "c"), ("c", "a")])
    assert from_networkx(to_networkx(u), backend=u.backend).bfs("c") == u.bfs("c")


def test_edge_history_of_lists_no_addition_order_explains() -> None:
    from gli._order import edge_history

    # a->b before a->d (a's successors), a->d before c->d (d's predecessors),
    # c->d before c->b, c->b before a->b: a cycle, so every edge comes once,
    # grouped by source.
    out = {"a": ["b", "d"], "b": [], "c": ["d", "b"], "d": []}
    inn = {"a": [], "b": ["c", "a"], "c": [], "d": ["a", "c"]}
    assert edge_history(list(out), out, inn) == [("a", "b"), ("a", "d"), ("c", "d"), ("c", "b")]
    # Consistent lists come back in an order that reproduces each of them.
    out = {1: [2, 3], 2: [3], 3: [1]}
    inn = {1: [3], 2: [1], 3: [2, 1]}
    order = edge_history(list(out), out, inn)
    assert [v for u, v in order if u == 1] == [2, 3] and [u for u, v in order if v == 3] == [2, 1]


def test_networkx_graphs_convert_with_their_neighbour_order() -> None:
    G = nx.Graph()
    G.add_edges_from([("a", "b"), ("b", "c"), ("c", "a")])
    g = from_networkx(G)
    assert [g.neighbors(n) for n in "abc"] == [list(G.adj[n]) for n in "abc"]
    want = nx.single_source_shortest_path_length(G, "c")
    assert list(nx.single_source_shortest_path_length(G, "c", backend="gli").items()) == list(want.items())


def test_to_networkx_attribute_dicts_are_copies(backend: str) -> None:
    g = gli.Graph(directed=True, backend=backend)
    g.batch_add_nodes([(1, {"a": 1}), 2])
    g.batch_add_edges([(1, 2, {"w": 1})])
    G = to_networkx(g)
    G.nodes[1]["a"] = 99
    G.edges[1, 2]["w"] = 99
    assert g.get_node(1) == {"a": 1} and g.get_edge(1, 2) == {"w": 1}


def test_empty_graphs_round_trip(backend: str) -> None:
    for directed in (True, False):
        g = from_networkx(nx.DiGraph() if directed else nx.Graph(), backend=backend)
        assert g.node_count() == 0 and g.is_directed() is directed
        H = to_networkx(g)
        assert H.number_of_nodes() == 0 and H.is_directed() is directed


@pytest.mark.parametrize("cls", ["MultiGraph", "MultiDiGraph"])
def test_from_networkx_rejects_multigraphs(cls: str) -> None:
    G = getattr(nx, cls)([(1, 2), (1, 2)])
    with pytest.raises(TypeError, match=f"{cls} is a multigraph"):
        from_networkx(G)


@pytest.mark.parametrize("bad", [(1, 2), 1.5, True, b"x", frozenset({1})])
def test_from_networkx_names_a_bad_node_id(backend: str, bad: Any) -> None:
    G = nx.Graph()
    G.add_nodes_from([2, "ok", bad])
    with pytest.raises(TypeError, match=r"node .* cannot be a GLI node id") as info:
        from_networkx(G, backend=backend)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 2**70])
def test_from_networkx_names_an_int_id_beyond_64_bits(backend: str, big: int) -> None:
    G = nx.Graph([(1, big)])
    with pytest.raises(OverflowError, match=f"^node {big} cannot be a GLI node id: an int id must fit in a signed 64-bit integer$"):
        from_networkx(G, backend=backend)
    assert from_networkx(nx.Graph([(1, 2**63 - 1), (-(2**63), 1)]), backend=backend).node_count() == 3


def test_from_networkx_rejects_non_str_attribute_names(backend: str) -> None:
    G = nx.Graph()
    G.add_edge(1, 2)
    G.edges[1, 2][5] = "x"
    with pytest.raises(TypeError, match="attribute names must be str"):
        from_networkx(G, backend=backend)


def test_from_networkx_wants_a_graph_and_keeps_the_subclass(backend: str) -> None:
    for not_a_graph in (None, [(1, 2)], {1: [2]}):
        with pytest.raises(TypeError, match="expected a networkx Graph or DiGraph, not"):
            from_networkx(not_a_graph, backend=backend)  # type: ignore[arg-type]
    base = type(gli.Graph(backend=backend))
    sub = type("Sub", (base,), {})
    assert type(sub.from_networkx(nx.path_graph(3), backend=backend)) is sub


# --------------------------------------------------------------------------- backend interface


def test_convert_from_nx_honours_requested_edge_attrs() -> None:
    G = nx.DiGraph()
    G.add_edge(1, 2, weight=3, color="red")
    G.add_edge(2, 3)
    G.graph["name"] = "kept"
    wrapped = backend_interface.convert_from_nx(G, edge_attrs={"weight": 1}, preserve_graph_attrs=True)
    assert isinstance(wrapped, GLIBackendGraph) and wrapped.__networkx_backend__ == "gli"
    assert wrapped.gli_graph.edges(data=True) == [(1, 2, {"weight": 3}), (2, 3, {"weight": 1})]
    back = backend_interface.convert_to_nx(wrapped)
    assert back.graph == {"name": "kept"} and back.edges[2, 3] == {"weight": 1}
    everything = backend_interface.convert_from_nx(G, preserve_edge_attrs=True)
    assert everything.gli_graph.get_edge(1, 2) == {"weight": 3, "color": "red"}
    assert backend_interface.convert_to_nx({"not": "a graph"}) == {"not": "a graph"}


def test_convert_from_nx_makes_numpy_weights_plain() -> None:
    np = pytest.importorskip("numpy")
    G = nx.DiGraph()
    G.add_edge(1, 2, weight=np.int64(2))
    G.add_edge(2, 3, weight=np.float32(1.5))
    G.add_edge(1, 3, weight=np.float64(0.25))
    wrapped = backend_interface.convert_from_nx(G, edge_attrs={"weight": 1})
    edges = wrapped.gli_graph.edges(data=True)
    assert edges == [(1, 2, {"weight": 2}), (1, 3, {"weight": 0.25}), (2, 3, {"weight": 1.5})]
    assert [type(d["weight"]) for _, _, d in edges] == [int, float, float]
    # a bool weight declines (GLI reads no number in it): see below
    assert backend_interface.shortest_path(wrapped, 1, 3, weight="weight") == [1, 3]


def test_weights_gli_cannot_compute_with_fall_back_to_networkx() -> None:
    # NetworkX computes with Decimal weights; GLI declines the conversion, so
    # automatic dispatch runs NetworkX itself (it used to raise TypeError).
    from decimal import Decimal

    G = nx.DiGraph()
    G.add_edge(0, 1, weight=Decimal("1.5"))
    G.add_edge(1, 0, weight=Decimal("0.5"))
    with pytest.raises(NotImplementedError, match="not a real number: Decimal"):
        backend_interface.convert_from_nx(G, edge_attrs={"weight": 1})
    want = nx.pagerank(G)
    with nx.config(backend_priority=["gli"]):
        assert nx.pagerank(G) == want
        assert nx.shortest_path(G, 0, 1, weight="weight") == [0, 1]


def test_convert_from_nx_reports_unconvertible_graphs_as_not_implemented() -> None:
    for G in (nx.MultiGraph([(1, 2)]), nx.Graph([((0, 0), (0, 1))]), nx.Graph([(2**70, 1)])):
        with pytest.raises(NotImplementedError, match="cannot convert to a GLI graph"):
            backend_interface.convert_from_nx(G)


def test_can_run_restricts_arguments() -> None:
    G, D = nx.path_graph(3), nx.path_graph(3, create_using=nx.DiGraph)
    can_run = backend_interface.can_run
    assert can_run("pagerank", (G,), {}) is True
    assert can_run("pagerank", (G,), {"weight": None, "alpha": 0.9}) is True
    for kwargs in ({"personalization": {0: 1}}, {"nstart": {0: 1}}, {"dangling": {0: 1}}):
        assert isinstance(can_run("pagerank", (G,), kwargs), str)
    assert can_run("pagerank", (nx.MultiGraph(G),), {}) == "GLI graphs are not multigraphs"
    # what GLI refuses and NetworkX runs with is left to NetworkX, which gives its own answer
    for kwargs in ({"alpha": 2}, {"alpha": True}, {"alpha": float("nan")}, {"tol": -1}, {"tol": np.bool_(True)},
                   {"tol": 2**2000}, {"max_iter": -1}, {"max_iter": 1.5}, {"max_iter": True}):
        assert isinstance(can_run("pagerank", (G,), kwargs), str), kwargs
    assert can_run("pagerank", (G,), {"alpha": np.float32(0.5), "tol": 0, "max_iter": np.int64(3)}) is True
    with nx.config(backend_priority=["gli"]):  # type: ignore[operator]
        K = nx.complete_graph(3)  # converges with alpha=1 (a path graph would oscillate)
        assert nx.pagerank(K, alpha=True) == nx.pagerank(K, alpha=True, backend="networkx")
        with pytest.raises(nx.PowerIterationFailedConvergence):
            nx.pagerank(G, tol=-1)
    assert can_run("single_source_shortest_path_length", (G, 0), {}) is True
    assert isinstance(can_run("single_source_shortest_path_length", (G, 0, 2), {}), str)
    assert can_run("connected_components", (G,), {}) is True
    assert isinstance(can_run("connected_components", (D,), {}), str)
    assert can_run("weakly_connected_components", (D,), {}) is True
    assert isinstance(can_run("weakly_connected_components", (G,), {}), str)
    assert can_run("shortest_path", (G, 0, 2), {}) is True
    assert can_run("shortest_path", (G, 0, 2), {"weight": "w"}) is True
    assert can_run("shortest_path", (G, 0, 2), {"method": "bellman-ford"}) is True
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((G, 0), {}),
        ((G,), {"target": 2}),
        ((G, 0, 2), {"weight": "w", "method": "bellman-ford"}),
        ((G, 0, 2), {"weight": lambda u, v, d: 1}),
        ((G, 0, 2), {"method": "nope"}),
    ]
    for args, kwargs in cases:
        assert isinstance(can_run("shortest_path", args, kwargs), str)


def test_sources_networkx_finds_by_equality_are_left_to_networkx() -> None:
    """np.int64(1), 1.0 and True name node 1 in NetworkX (equal, same hash);
    GLI's ids are exactly str and int, so it declines them rather than report
    node 1 missing, and automatic dispatch falls back to NetworkX."""
    G = nx.path_graph(4)
    can_run = backend_interface.can_run
    for source in (np.int64(1), 1.0, True):
        assert "GLI looks nodes up only by str or int" in can_run("single_source_shortest_path_length", (G, source), {})
        assert isinstance(can_run("shortest_path", (G, source, 3), {}), str)
        assert isinstance(can_run("shortest_path", (G, 0, source), {}), str)
    with nx.config(backend_priority=["gli"]):  # type: ignore[operator]
        want = dict(nx.single_source_shortest_path_length(G, 1))
        assert dict(nx.single_source_shortest_path_length(G, np.int64(1))) == want
        assert nx.shortest_path(G, 0, np.int64(3)) == [0, 1, 2, 3]


def test_graphs_gli_cannot_hold_are_left_to_networkx() -> None:
    """A lone surrogate in a str id, or an int weight beyond 64 bits: the
    conversion declines (NotImplementedError), and automatic dispatch falls
    back to NetworkX instead of raising."""
    surrogate = nx.path_graph(["\ud800", "a", "b"])
    big = nx.DiGraph()
    big.add_edge(0, 1, weight=2**70)
    big.add_edge(1, 2, weight=1)
    for G, kw in ((surrogate, {}), (big, {"edge_attrs": {"weight": 1}})):
        with pytest.raises(NotImplementedError, match="cannot convert to a GLI graph"):
            backend_interface.convert_from_nx(G, **kw)
    with nx.config(backend_priority=["gli"]):  # type: ignore[operator]
        assert set(nx.pagerank(surrogate)) == {"\ud800", "a", "b"}
        assert nx.single_source_dijkstra_path_length(big, 0) == {0: 0, 1: 2**70, 2: 2**70 + 1}


class _Weight(int):
    pass


@pytest.mark.parametrize("weight", [np.uint64(2**64 - 1), np.longdouble(2), True, _Weight(2**70)], ids=repr)
def test_weights_gli_reads_as_no_64_bit_number_are_left_to_networkx(weight: Any) -> None:
    """Judged as GLI would store them: a numpy uint64 beyond int64 (an int
    beyond 64 bits once plain), a longdouble (no float to GLI), a bool (no
    number to GLI; 1 to NetworkX) and an int subclass beyond 64 bits (made a
    float, it gave a path that was not the shortest) decline, and NetworkX
    answers (the conversion used to pass them on, and the engine refused
    them)."""
    G = nx.DiGraph()
    G.add_edge(0, 1, weight=weight)
    G.add_edge(1, 2, weight=1)
    with pytest.raises(NotImplementedError, match="cannot convert to a GLI graph"):
        backend_interface.convert_from_nx(G, edge_attrs={"weight": 1})
    want = nx.pagerank(G)
    with nx.config(backend_priority=["gli"]):  # type: ignore[operator]
        assert nx.pagerank(G) == want


def test_should_run_leaves_point_to_point_paths_to_networkx() -> None:
    G = nx.path_graph(3)
    assert isinstance(backend_interface.should_run("shortest_path", (G, 0, 2), {}), str)
    assert backend_interface.should_run("pagerank", (G,), {}) is True


def test_backend_functions_on_a_wrapped_graph_raise_networkx_errors() -> None:
    G = nx.DiGraph([(1, 2), (3, 4)])
    wrapped = backend_interface.convert_from_nx(G)
    assert list(wrapped) == [1, 2, 3, 4] and 1 in wrapped and len(wrapped) == 4
    with pytest.raises(nx.NodeNotFound, match="Source 9 is not in G"):
        backend_interface.single_source_shortest_path_length(wrapped, 9)
    with pytest.raises(nx.NodeNotFound, match="Target 9 is not in G"):
        backend_interface.shortest_path(wrapped, 1, 9)
    with pytest.raises(nx.NetworkXNoPath):
        backend_interface.shortest_path(wrapped, 1, 4)
    with pytest.raises(nx.PowerIterationFailedConvergence):
        backend_interface.pagerank(wrapped, max_iter=1)
    assert list(backend_interface.weakly_connected_components(wrapped)) == [{1, 2}, {3, 4}]


# --------------------------------------------------------------------------- dispatch


@pytest.fixture
def no_conversion_cache() -> Iterator[None]:
    # Cached conversions make NetworkX warn (an error under this suite's filterwarnings).
    with nx.config(cache_converted_graphs=False):
        yield


def _random_graphs(directed: bool, weighted: bool) -> list[Any]:
    graphs = []
    for seed, (n, p) in enumerate([(1, 0.0), (30, 0.05), (120, 0.03), (300, 0.01)]):
        G = nx.gnp_random_graph(n, p, seed=seed, directed=directed)
        if weighted:
            rng = random.Random(seed)
            for u, v, d in G.edges(data=True):
                if rng.random() < 0.9:  # some edges keep the default weight of 1
                    d["weight"] = rng.choice([0.5, 1, 2, 3.25, 7])
        graphs.append(G)
    return graphs


def _assert_shortest_path_ok(G: Any, path: list[Any], source: Any, target: Any, weight: str | None) -> None:
    assert path[0] == source and path[-1] == target
    assert all(G.has_edge(u, v) for u, v in zip(path, path[1:]))
    if weight is None:
        assert len(path) - 1 == nx.shortest_path_length(G, source, target)
    else:
        cost = sum(G.edges[u, v].get(weight, 1) for u, v in zip(path, path[1:]))
        assert cost == pytest.approx(nx.shortest_path_length(G, source, target, weight=weight))


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("weight", [None, "weight"])
def test_pagerank_dispatch_equals_networkx(directed: bool, weight: str | None) -> None:
    for G in _random_graphs(directed, weighted=weight is not None):
        expected = nx.pagerank(G, weight=weight)
        got = nx.pagerank(G, weight=weight, backend="gli")
        assert got.keys() == expected.keys()
        assert all(abs(got[n] - expected[n]) <= 1e-9 for n in expected)
        got_alpha = nx.pagerank(G, alpha=0.5, tol=1e-10, weight=weight, backend="gli")
        expected_alpha = nx.pagerank(G, alpha=0.5, tol=1e-10, weight=weight)
        assert all(abs(got_alpha[n] - expected_alpha[n]) <= 1e-9 for n in expected)


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
def test_pagerank_dispatch_errors() -> None:
    G = nx.gnp_random_graph(50, 0.1, seed=7, directed=True)
    with pytest.raises(nx.PowerIterationFailedConvergence):
        nx.pagerank(G, max_iter=1, backend="gli")
    with pytest.raises(NotImplementedError, match="for the given arguments"):
        nx.pagerank(G, personalization={0: 1.0}, backend="gli")
    with pytest.raises(NotImplementedError):
        nx.pagerank(nx.MultiDiGraph(G), backend="gli")
    with pytest.raises(NotImplementedError):
        nx.pagerank(nx.relabel_nodes(G, {0: (0, 0)}), backend="gli")


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
@pytest.mark.parametrize("directed", [True, False])
def test_single_source_shortest_path_length_dispatch(directed: bool) -> None:
    for G in _random_graphs(directed, weighted=False):
        for source in list(G)[:5]:
            expected = nx.single_source_shortest_path_length(G, source)
            assert nx.single_source_shortest_path_length(G, source, backend="gli") == expected
    with pytest.raises(nx.NodeNotFound):
        nx.single_source_shortest_path_length(nx.path_graph(3), 42, backend="gli")


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
def test_components_dispatch_equal_networkx_in_order() -> None:
    for G in _random_graphs(False, weighted=False):
        expected = list(nx.connected_components(G))
        got = nx.connected_components(G, backend="gli")
        assert isinstance(got, Iterator)
        assert list(got) == expected  # same sets, same order
    for D in _random_graphs(True, weighted=False):
        assert list(nx.weakly_connected_components(D, backend="gli")) == list(
            nx.weakly_connected_components(D)
        )
    with pytest.raises(nx.NetworkXNotImplemented):
        nx.connected_components(nx.DiGraph([(1, 2)]), backend="gli")
    with pytest.raises(nx.NetworkXNotImplemented):
        nx.weakly_connected_components(nx.Graph([(1, 2)]), backend="gli")


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("weight", [None, "weight"])
def test_shortest_path_dispatch(directed: bool, weight: str | None) -> None:
    for G in _random_graphs(directed, weighted=weight is not None):
        nodes = list(G)
        pairs = [(nodes[i], nodes[(i * 7 + 3) % len(nodes)]) for i in range(min(len(nodes), 25))]
        for source, target in pairs:
            try:
                nx.shortest_path(G, source, target, weight=weight)
            except nx.NetworkXNoPath:
                with pytest.raises(nx.NetworkXNoPath):
                    nx.shortest_path(G, source, target, weight=weight, backend="gli")
                continue
            path = nx.shortest_path(G, source, target, weight=weight, backend="gli")
            _assert_shortest_path_ok(G, path, source, target, weight)
    G = nx.path_graph(4)
    with pytest.raises(nx.NodeNotFound):
        nx.shortest_path(G, 0, 99, backend="gli")
    with pytest.raises(nx.NodeNotFound):
        nx.shortest_path(G, 99, 0, backend="gli")
    with pytest.raises(NotImplementedError):
        nx.shortest_path(G, 0, backend="gli")


@needs_entry_point
def test_backend_graph_dispatches_without_conversion() -> None:
    G = nx.gnp_random_graph(80, 0.05, seed=11)
    wrapped = GLIBackendGraph(from_networkx(G))
    assert list(nx.connected_components(wrapped)) == list(nx.connected_components(G))
    pr, expected = nx.pagerank(wrapped), nx.pagerank(G)
    assert all(abs(pr[n] - expected[n]) <= 1e-9 for n in expected)


@needs_entry_point
@pytest.mark.usefixtures("no_conversion_cache")
def test_automatic_dispatch_by_backend_priority() -> None:
    G = nx.gnp_random_graph(60, 0.05, seed=5)
    G.add_node((9, 9))  # not a GLI id: conversion fails, NetworkX runs instead
    H = nx.gnp_random_graph(60, 0.05, seed=5)
    with nx.config.backend_priority(algos=["gli"]):
        assert list(nx.connected_components(H)) == list(nx.connected_components(H, backend="networkx"))
        assert len(list(nx.connected_components(G))) == len(list(nx.connected_components(H))) + 1
        assert nx.shortest_path(H, 0, 0) == [0]


def test_inconsistent_directedness_and_tuple_ids_are_refused() -> None:
    _, embedding = nx.check_planarity(nx.cycle_graph(3))  # DiGraph storage, is_directed() False
    with pytest.raises(TypeError, match="PlanarEmbedding.is_directed"):
        from_networkx(embedding)
    with pytest.raises(NotImplementedError):
        backend_interface.convert_from_nx(embedding)
    G = nx.Graph([(("a", "b"), 1)])  # a 2-tuple id must not be read as an (id, attrs) pair
    with pytest.raises(NotImplementedError, match=r"node \('a', 'b'\)"):
        backend_interface.convert_from_nx(G)
