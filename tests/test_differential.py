"""Differential test: random operation sequences (invalid ones included)
drive the Rust and the pure-Python backends at once; return values,
exceptions (type and message) and final state must be identical."""

from __future__ import annotations

from typing import Any

import math
import pickle
import random
import threading
from collections.abc import Mapping

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import gli

# str ids on both sides of the native ids' 15-byte inline limit too.
IDS = st.sampled_from([0, 1, 2, 3, "1", "a", "b", "c", -7, 2**40, "", "sixteen-bytes-id", "seventeen-bytes-i", "é" * 8, "é" * 9])


class Flag(int):
    """An int subclass attribute value."""


# The last three: not valid Unicode, or beyond 64 bits (missing to a lookup, refused by add_node).
BAD_IDS = st.sampled_from([True, 1.5, None, ("t",), "\udcff", 2**64, -(2**63) - 1])
ANY_ID = st.one_of(IDS, IDS, IDS, BAD_IDS)
VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=4),
        st.just("a\ud800"),  # a lone surrogate: kept as the object by both
        # Kept as objects, read as the numbers they stand for (or none).
        st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)), st.builds(np.float32, st.floats(width=32)),
        st.builds(np.bool_, st.booleans()), st.builds(Flag, st.integers(0, 3)), st.builds(np.str_, st.text(max_size=2)),
        st.builds(np.uint64, st.sampled_from([2**63, 2**64 - 1])), st.sampled_from([2**70, 2**70 + 1, 2.0**70]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6,
)
ATTRS = st.dictionaries(st.sampled_from(["w", "x", "y", "class"]), VALUES, max_size=3)


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - the type and message are what we compare
        return ("err", (type(e), str(e)))


def typed(result: tuple[str, Any]) -> tuple[str, Any]:
    """An outcome with each number's type beside it (``1 == 1.0`` hides one)."""
    kind, value = result
    if kind != "ok":
        return result
    if isinstance(value, dict):
        return kind, [(k, v, type(v)) for k, v in value.items()]
    return kind, (value, type(value))


class BothBackends(RuleBasedStateMachine):
    @initialize(directed=st.booleans(), limit=st.sampled_from([None, None, 16, 17]))
    def setup(self, directed: bool, limit: int | None) -> None:
        self.graphs = [gli.Graph(directed=directed, backend=b) for b in ("rust", "python")]
        if limit is not None:
            # Just more indices than IDS has ids: the rust graph renumbers
            # its live nodes often.
            self.graphs[0]._index_limit(limit)

    def both(self, method: str, *args: Any, **kwargs: Any) -> None:
        results = [outcome(getattr(g, method), *args, **kwargs) for g in self.graphs]
        assert results[0] == results[1], (method, args, kwargs, results)

    @rule(n=ANY_ID, attrs=ATTRS)
    def add_node(self, n: Any, attrs: dict[str, Any]) -> None:
        self.both("add_node", n, **attrs)

    @rule(s=ANY_ID, t=ANY_ID, attrs=ATTRS)
    def add_edge(self, s: Any, t: Any, attrs: dict[str, Any]) -> None:
        self.both("add_edge", s, t, **attrs)

    @rule(n=ANY_ID, attrs=ATTRS)
    def update_node(self, n: Any, attrs: dict[str, Any]) -> None:
        self.both("update_node", n, **attrs)

    @rule(s=ANY_ID, t=ANY_ID, attrs=ATTRS)
    def update_edge(self, s: Any, t: Any, attrs: dict[str, Any]) -> None:
        self.both("update_edge", s, t, **attrs)

    @rule(n=ANY_ID)
    def remove_node(self, n: Any) -> None:
        self.both("remove_node", n)

    @rule(s=ANY_ID, t=ANY_ID)
    def remove_edge(self, s: Any, t: Any) -> None:
        self.both("remove_edge", s, t)

    @rule(items=st.lists(st.one_of(ANY_ID, st.tuples(IDS, ATTRS)), max_size=5))
    def batch_add_nodes(self, items: list[Any]) -> None:
        self.both("batch_add_nodes", items)

    @rule(items=st.lists(st.one_of(st.tuples(IDS, IDS), st.tuples(ANY_ID, IDS, ATTRS)), max_size=5))
    def batch_add_edges(self, items: list[Any]) -> None:
        self.both("batch_add_edges", items)

    # numpy arrays as batches: int dtypes take the rust backend's fast path
    # (big-endian and Fortran-ordered ones converted first), the others its
    # `tolist()` path.
    @rule(
        ids=st.lists(st.sampled_from([0, 1, 2, 3, -7, 2**40]), max_size=5),
        dtype=st.sampled_from([">i8", "<i8", "float64", "object", "uint64"]),
    )
    def batch_add_nodes_from_an_array(self, ids: list[int], dtype: str) -> None:
        if dtype == "uint64":
            ids = [abs(i) for i in ids]
        self.both("batch_add_nodes", np.array(ids, dtype=dtype))

    @rule(
        ends=st.lists(st.tuples(IDS, IDS), max_size=5),
        dtype=st.sampled_from(["int64", "int16", ">i4", "object", "U20"]),
        fortran=st.booleans(),
    )
    def batch_add_edges_from_an_array(self, ends: list[tuple[Any, Any]], dtype: str, fortran: bool) -> None:
        if dtype[-1] in "2468":  # only ints that fit the dtype
            ends = [(s, t) for s, t in ends if all(type(v) is int and -(2**15) <= v < 2**15 for v in (s, t))]
        arr = np.array(ends, dtype=dtype).reshape(-1, 2)
        self.both("batch_add_edges", np.asfortranarray(arr) if fortran else arr)

    @rule(
        ops=st.lists(
            st.one_of(
                st.tuples(st.just("add_node"), ANY_ID, ATTRS),
                st.tuples(st.just("add_edge"), IDS, IDS, ATTRS),
                st.tuples(st.just("update_node"), IDS, ATTRS),
                st.tuples(st.just("update_edge"), IDS, IDS, ATTRS),
                st.tuples(st.just("remove_node"), IDS),
                st.tuples(st.just("remove_edge"), IDS, IDS),
            ),
            max_size=6,
        )
    )
    def batch_operations(self, ops: list[tuple[Any, ...]]) -> None:
        def run(g: gli.Graph) -> None:
            with g.batch_operations() as batch:
                for code, *args in ops:
                    *ids, last = args
                    if isinstance(last, dict):
                        getattr(batch, code)(*ids, **last)
                    else:
                        getattr(batch, code)(*ids, last)

        results = [outcome(run, g) for g in self.graphs]
        assert results[0] == results[1], (ops, results)

    @rule()
    def clear(self) -> None:
        self.both("clear")

    @rule(n=ANY_ID)
    def queries(self, n: Any) -> None:
        for method in ("has_node", "get_node", "successors", "predecessors", "neighbors", "degree", "in_degree", "out_degree"):
            self.both(method, n)
        self.both("has_edge", n, n)
        self.both("get_edge", n, 0)

    @rule(n=ANY_ID)
    def traversals(self, n: Any) -> None:
        # Interleaved with the writes above: the Rust backend's cached
        # adjacency must follow every change (a stale shard would show here).
        for method in ("bfs", "dfs", "shortest_path_lengths"):
            self.both(method, n)
        self.both("bfs", n, depth_limit=1)
        self.both("k_hop", n, 2)
        # Weighted lengths: the same values and types (ints while the weights are ints).
        for method, args in (("shortest_path_lengths", (n,)), ("shortest_path_length", (n, 0))):
            results = [typed(outcome(getattr(g, method), *args, weight="w")) for g in self.graphs]
            assert results[0] == results[1], (method, args, results)
        rust, py = (outcome(g.connected_components) for g in self.graphs)

        def norm(comps: list[list[Any]]) -> list[list[Any]]:
            return sorted((sorted(c, key=repr) for c in comps), key=repr)

        assert rust[0] == py[0] == "ok" and norm(rust[1]) == norm(py[1]), (rust, py)
        ranks = [outcome(g.pagerank) for g in self.graphs]
        assert ranks[0][0] == ranks[1][0], ranks
        if ranks[0][0] == "ok":
            got, want = ranks[0][1], ranks[1][1]
            assert list(got) == list(want)
            assert all(math.isclose(got[k], want[k], rel_tol=1e-9, abs_tol=1e-12) for k in want), ranks

    @rule(where=st.dictionaries(st.sampled_from(["w", "x", "nope"]), VALUES, max_size=2), size=st.integers(1, 4))
    def filters(self, where: dict[str, Any], size: int) -> None:
        # Containers in `where` are a TypeError on both backends.
        self.both("filter_nodes", where=where)
        self.both("filter_nodes", lambda n, a: dict(a), where=where, batch_size=size)
        self.both("filter_nodes", lambda ids, b: [v is not None for v in b.column("x", None)]
                  if isinstance(b.column("x"), list) else b.column("x") > 0, vectorized=True, batch_size=size)
        self.both("filter_edges", lambda s, t, a: len(a) > 1, where=where, batch_size=size)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "graphs"):
            return
        rust, py = self.graphs
        assert rust.nodes(data=True) == py.nodes(data=True)
        assert rust.edges(data=True) == py.edges(data=True)
        assert (len(rust), rust.edge_count()) == (len(py), py.edge_count())


# Health checks about generation speed and size are not about GLI: on a
# shared 2-core machine under load (pytest -n auto beside the free-threaded
# lane's build) one of them failed a run once.
BothBackends.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("GLI_DIFF_EXAMPLES", 60)),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
TestBothBackends = BothBackends.TestCase


# ------------------------------------------------------- differential (hypothesis)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5, math.nan]),
    st.sampled_from(["a", "b", ""]),
)
attr_dicts = st.dictionaries(st.sampled_from(["x", "y", "z"]), scalars, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(attr_dicts, max_size=30),
    edges=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29), attr_dicts), max_size=40),
    removed=st.sets(st.integers(0, 29), max_size=5),
    where=st.dictionaries(st.sampled_from(["x", "y", "never"]), scalars, max_size=2),
    batch_size=st.integers(1, 8),
    directed=st.booleans(),
)
def test_backends_agree(
    nodes: list[dict[str, Any]],
    edges: list[tuple[int, int, dict[str, Any]]],
    removed: set[int],
    where: dict[str, Any],
    batch_size: int,
    directed: bool,
) -> None:
    graphs = [gli.Graph(directed=directed, backend=b) for b in ("rust", "python")]
    for g in graphs:
        g.batch_add_nodes(enumerate(nodes))
        for s, t, a in edges:
            if s < len(nodes) and t < len(nodes) and not g.has_edge(s, t):
                g.add_edge(s, t, **a)
        for r in removed:
            if r in g:
                g.remove_node(r)

    def pred(n: Any, a: Mapping[str, Any]) -> bool:
        return a.get("y") in (1, "a", None) or len(a) == 0

    def vpred(ids: list[Any], b: Any) -> Any:
        col = b.column("x", 0)
        if isinstance(col, list):
            return [isinstance(v, (int, float)) and v > 0 for v in col]
        return col > 0

    def epred(s: Any, t: Any, a: Mapping[str, Any]) -> bool:
        return (s + t) % 2 == 0 or "z" in a

    results = [
        (
            g.filter_nodes(where=where),
            g.filter_nodes(pred, where=where, batch_size=batch_size),
            g.filter_nodes(vpred, where=where, batch_size=batch_size, vectorized=True),
            g.filter_edges(where=where),
            g.filter_edges(epred, where=where, batch_size=batch_size),
        )
        for g in graphs
    ]
    assert results[0] == results[1]


# ------------------------- differential (wide nodes: value columns, writes)

WIDE_NAMES = ["a", "b", "c", "d", "e", "f"]
WIDE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=30), st.lists(st.integers(0, 3), max_size=2), st.sampled_from([2**70, np.int64(5), Flag(1)]),
)


def wide_attrs(rnd: random.Random, pool: list[Any]) -> dict[str, Any]:
    """Eight padding attributes (the rust backend reads the names a
    predicate reads from value columns on such nodes) and some of the
    names, with values drawn from ``pool``."""
    attrs: dict[str, Any] = {f"pad{j}": j for j in range(8)}
    for name in WIDE_NAMES:
        if rnd.random() < 0.8:
            attrs[name] = rnd.choice(pool)
    return attrs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    pool=st.lists(WIDE_VALUES, min_size=1, max_size=12),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["filter", "filter", "update", "remove", "add"]),
            st.lists(st.sampled_from(WIDE_NAMES), min_size=1, max_size=3),
            st.integers(0, 2**32),
            st.booleans(),
        ),
        max_size=8,
    ),
)
def test_backends_agree_on_wide_filters_across_writes(
    seed: int, pool: list[Any], steps: list[tuple[str, list[str], int, bool]]
) -> None:
    # More nodes than a filter needs for value columns; filters read
    # different names with [], get and in, with writes between them.
    # `again`: a step uses the last filter's names, so that filters read
    # the columns the one before noted, and writes land in them (a written
    # shard is read from its maps once, then gets a new column).
    rnd = random.Random(seed)
    last: list[str] = []
    n = 1_100
    nodes = [(i, wide_attrs(rnd, pool)) for i in range(n)]
    graphs = [gli.Graph(backend=b) for b in ("rust", "python")]
    for g in graphs:
        g.batch_add_nodes(nodes)
    for op, drawn, arg, again in steps:
        names = last if again and last else drawn
        r = random.Random(arg)
        node = r.randrange(n + 20)
        if op == "filter":
            outs = []
            for g in graphs:
                seen: list[Any] = []

                def pred(v: Any, a: Mapping[str, Any], seen: list[Any] = seen) -> bool:
                    got = [(name in a, a.get(name, "MISSING"), type(a.get(name))) for name in names]
                    try:
                        first = a[names[0]]
                    except KeyError:
                        first = "MISSING"
                    seen.append((v, got, repr(first)))
                    return first is not None and first != "MISSING"

                outs.append((g.filter_nodes(pred), seen))
            assert outs[0] == outs[1]
            last = names
        elif op == "update":
            value = r.choice(pool)
            for g in graphs:
                assert outcome(g.update_node, node, **{names[0]: value})[0] == ("ok" if node in g else "err")
        elif op == "remove":
            for g in graphs:
                outcome(g.remove_node, node)
        else:
            attrs, new = wide_attrs(r, pool), n + r.randrange(20)
            assert len({outcome(g.add_node, new, **attrs)[0] for g in graphs}) == 1
    assert [g.nodes() for g in graphs][0] == graphs[1].nodes()


# ------------------------------------------- differential (large, seeded)


@pytest.mark.parametrize(("seed", "spare"), [(1, None), (2, None), (3, 4)])
def test_backends_agree_on_graphs_of_many_record_chunks(seed: int, spare: int | None) -> None:
    # The state machine's graphs stay small: every shard's records fit one
    # chunk. Here each shard holds several, and writes land beside live
    # snapshots (from inside filter predicates), across chunk boundaries.
    # With `spare`, the rust graph keeps getting only that many indices
    # beyond its live nodes: it renumbers them all every few dozen
    # operations, beside the filter's snapshot too.
    rnd = random.Random(seed)
    n = 6000
    directed = bool(seed % 2)
    graphs = [gli.Graph(directed=directed, backend=b) for b in ("rust", "python")]

    def ops(g: gli.Graph, r: random.Random) -> None:
        for step in range(1500):
            if spare is not None and g is graphs[0] and step % 50 == 0:
                g._index_limit(len(g) + spare)  # the next few additions renumber
            code = r.random()
            a, b = r.randrange(n + 500), r.randrange(n + 500)
            if code < 0.3:
                outcome(g.add_edge, a, b, w=r.random())
            elif code < 0.5:
                outcome(g.update_node, a, x=r.randrange(5), y=str(b))
            elif code < 0.6:
                outcome(g.remove_node, a)
            elif code < 0.7:
                outcome(g.remove_edge, a, b)
            elif code < 0.8:
                outcome(g.add_node, a, x=-1)
            else:
                outcome(g.update_edge, a, b, w=-1.0)

    results = []
    for g in graphs:
        g.batch_add_nodes((i, {"x": i % 5}) for i in range(n))
        g.batch_add_edges((i, (i * 31 + 7) % n, {"w": 1.0}) for i in range(0, n, 2) if i != (i * 31 + 7) % n)
        ops(g, random.Random(seed))
        seen: list[Any] = []
        first = threading.Lock()

        def pred(node: Any, a: Mapping[str, Any], g: gli.Graph = g, seen: list[Any] = seen, first: threading.Lock = first) -> bool:
            if first.acquire(blocking=False):
                ops(g, random.Random(seed + 100))  # beside the filter's snapshot
            seen.append((node, dict(a)))
            return a.get("x") == 3

        kept = g.filter_nodes(pred, batch_size=101)
        if spare is not None and g is graphs[0]:
            assert g._index_limit() >= 10, "renumbered too rarely to test anything"
        g = pickle.loads(pickle.dumps(g))
        results.append((
            kept, sorted(seen, key=lambda p: p[0]), g.nodes(data=True), g.edges(data=True),
            g.filter_nodes(where={"x": 0}), outcome(g.bfs, 0), outcome(g.shortest_path_lengths, 2, weight="w"),
            g.subgraph([v for v in range(0, n, 3) if v in g]).edges(data=True),
        ))
    assert results[0] == results[1]
