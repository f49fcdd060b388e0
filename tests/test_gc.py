"""The garbage collector and a graph's attribute values.

A reference cycle through an attribute value (a value that holds its graph,
a callback closing over it) is collected like NetworkX's dict-of-dicts
graphs are, and the collector never finalizes or clears a value that a
graph, a graph made from it by ``subgraph``, or a kept ``AttributeView``
still holds."""

from __future__ import annotations

import gc
import itertools
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import gli


class Value:
    """An attribute value that says whether it was finalized or cleared."""

    finalized: set[int] = set()
    tags = itertools.count()

    def __init__(self, graph: Any = None) -> None:
        self.tag = next(Value.tags)
        self.graph = graph

    def __del__(self) -> None:
        Value.finalized.add(self.tag)


def collected(*refs: weakref.ref[Any]) -> bool:
    gc.collect()
    return all(r() is None for r in refs)


def test_a_value_that_holds_its_graph_is_collected_with_it(
    make_graph: Callable[..., gli.Graph],
) -> None:
    g = make_graph()
    v = Value(g)
    g.add_node("a", owner=v)
    refs = weakref.ref(g), weakref.ref(v)
    del g, v
    assert collected(*refs)


@pytest.mark.parametrize("directed", [True, False])
def test_cycles_through_edges_nested_values_and_closures_are_collected(
    make_graph: Callable[..., gli.Graph], directed: bool
) -> None:
    g = make_graph(directed)
    g.batch_add_nodes([1, 2, 3])
    # A tuple has no tp_clear of its own: the graph must break the cycle.
    g.add_edge(1, 2, w=[{"back": (g,)}])
    g.batch_add_edges([(2, 3, {"on_change": lambda: g.node_count()})])
    with g.batch_operations() as ops:
        ops.update_node(3, me=[g])
    refs = [weakref.ref(g)]
    del g, ops
    assert collected(*refs)


def test_many_cyclic_graphs_leave_nothing_behind(backend: str) -> None:
    refs, tags = [], set()
    for i in range(2000):
        g = gli.Graph(backend=backend)
        v = Value(g)
        g.add_node(i, v=v)
        refs.append(weakref.ref(g))
        tags.add(v.tag)
    del g, v
    assert collected(*refs)
    assert tags <= Value.finalized


def test_values_a_subgraph_shares_live_while_it_does(make_graph: Callable[..., gli.Graph]) -> None:
    g = make_graph()
    shared = Value()
    tag = shared.tag
    g.add_node(1, x=shared)
    g.add_node(2, cycle=Value(g))
    h = g.subgraph([1])
    wg, ws = weakref.ref(g), weakref.ref(shared)
    del g, shared
    for _ in range(3):
        gc.collect()
    value = h.get_node(1)["x"]
    assert isinstance(value, Value) and value.tag == tag and tag not in Value.finalized
    del value
    del h
    assert collected(wg, ws)


def test_a_kept_view_keeps_its_values_whole(make_graph: Callable[..., gli.Graph]) -> None:
    g = make_graph()
    v = Value(g)
    tag = v.tag
    g.add_node(1, x=v)
    del v
    kept: list[Any] = []
    g.filter_nodes(lambda n, a: kept.append(a) or True)
    g.remove_node(1)
    wg = weakref.ref(g)
    del g
    for _ in range(3):
        gc.collect()
    # The graph no longer holds the value; the view's snapshot does.
    assert kept[0]["x"].tag == tag and tag not in Value.finalized
    kept.clear()
    assert collected(wg)


def test_a_graph_stored_in_another_graph(make_graph: Callable[..., gli.Graph]) -> None:
    a, b = make_graph(), make_graph()
    a.add_node(1, other=b)
    b.add_node(1, other=a)
    refs = weakref.ref(a), weakref.ref(b)
    del a, b
    assert collected(*refs)


def test_a_reachable_graph_keeps_every_value_through_collections() -> None:
    g = gli.Graph()
    tags = []
    for i in range(100):
        v, w = Value(g), Value()
        g.add_node(i, v=v, nested=[w])
        tags.append((v.tag, w.tag))
    del v, w
    for _ in range(3):
        gc.collect()
    for i in range(100):
        node = g.get_node(i)
        assert (node["v"].tag, node["nested"][0].tag) == tags[i]
    every = {t for pair in tags for t in pair}
    assert not every & Value.finalized
    wg = weakref.ref(g)
    del g, node
    assert collected(wg)
    assert every <= Value.finalized


@pytest.mark.timeout(300)
def test_collections_beside_detached_writers_never_finalize_a_held_value() -> None:
    """Writers replace, remove and re-add opaque values (detached batches,
    snapshots taken and dropped, subgraphs made) while the main thread
    collects: a value the graph holds at the end was never finalized or
    cleared, and values the writers let go of were collected."""
    g = gli.Graph()
    g.batch_add_nodes(range(10**7, 10**7 + 100_000))
    n = 400
    for i in range(n):
        g.add_node(i, v=Value(g))
    stop = threading.Event()
    errors: list[BaseException] = []
    rounds = [0, 0]

    def writer(w: int) -> None:
        k = 0
        try:
            while not stop.is_set():
                k += 1
                rounds[w] = k
                # All-or-nothing replacement of every value, under every shard lock.
                with g.batch_operations() as ops:
                    for i in range(w, n, 2):
                        ops.update_node(i, v=Value(g))
                g.batch_add_nodes((10**8 + w * 10**6 + k * 10 + j, {"t": Value(g)}) for j in range(10))
                g.remove_node(10**8 + w * 10**6 + k * 10)
                g.subgraph(range(w, n, 7))
                g.filter_nodes(where={"y": 1})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    try:
        collections, start = 0, time.monotonic()
        # Until both writers have been through their loop many times (or
        # have failed), collecting all along, with a pause between
        # collections: a free-threaded collection stops every thread, and
        # back-to-back ones leave the writers a round or two a second. The
        # time bound is a safeguard for a loaded machine, not the test.
        while (collections < 150 or min(rounds) < 20) and not errors:
            gc.collect()
            collections += 1
            time.sleep(0.002)
            if time.monotonic() - start > 60 and min(rounds) > 0:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    for _ in range(5):  # the values the last rounds stored meet collections too
        gc.collect()
    held = [g.get_node(i)["v"] for i in range(n)]
    assert all(hasattr(v, "tag") and v.graph is g for v in held), "a held value was cleared"
    assert not {v.tag for v in held} & Value.finalized, "a held value was finalized"
    del held
    wg = weakref.ref(g)
    del g
    assert collected(wg)


def test_graphs_that_adopted_each_others_values_are_collected() -> None:
    """A Graph subclass that hands out pooled graphs can make two graphs each
    other's `subgraph` target: each then keeps the other's values reachable
    (found by an audit: the two registries were never freed)."""
    pool: list[gli.Graph] = []

    class Pooled(gli.Graph):
        def __new__(cls, directed: bool = True, *args: Any, **kwargs: Any) -> Any:
            return pool.pop() if pool else super().__new__(cls, directed)

    def registries() -> int:
        return sum(type(o).__name__ == "_Values" for o in gc.get_objects())

    gc.collect()
    before = registries()
    refs = []
    for _ in range(200):
        g1, g2 = Pooled(), Pooled()
        pool.append(g2)
        g1.add_node(1, v=Value())
        assert g1.subgraph([1]) is g2
        g1.clear()
        pool.append(g1)
        assert g2.subgraph([1]) is g1
        refs += [weakref.ref(g1), weakref.ref(g2)]
        del g1, g2
        pool.clear()
    assert collected(*refs)
    assert registries() == before


def test_only_values_the_collector_tracks_are_registered() -> None:
    """A numpy scalar or a big int refers to nothing and is in no cycle: it
    costs no registry slot. What the collector tracks (an instance of a
    Python class, a tuple, a `str` subclass: heap types are tracked) is
    registered, and leaves when released."""
    import numpy as np

    class Tag(str):
        __slots__ = ()

    g = gli.Graph()
    (values,) = [o for o in gc.get_referents(g) if type(o).__name__ == "_Values"]

    def registered() -> int:
        return int(repr(values).split(": ")[1].split()[0])

    g.add_node(1, a=np.float64(0.5), b=2**70, c="x", d=np.int8(3))
    assert registered() == 0
    # The nested list and dict are stored natively: not objects.
    g.add_node(2, a=Value(), b=(1, 2), c=[[], {}], d=Tag("y"))
    assert registered() == 3
    g.remove_node(2)
    g.node_count()  # a GLI call releases what the removal dropped
    assert registered() == 0
    assert g.get_node(1) == {"a": 0.5, "b": 2**70, "c": "x", "d": 3}


def test_a_long_chain_of_subgraphs_keeps_no_registries_and_frees_without_recursion() -> None:
    """``g = g.subgraph(keep)`` in a loop (an audit): every step's registry
    used to adopt the one before, so the chain grew without bound, and
    freeing it recursed once per step until the stack overflowed (a segfault
    at 30,000 steps). Run in a child: a crash must fail the test, not end it."""
    child = textwrap.dedent(
        """
        import gc, gli

        class Value:
            pass

        def registries():
            return sum(type(o).__name__ == "_Values" for o in gc.get_objects())

        g = gli.Graph()
        g.add_node(0)
        g.add_node(1)
        g.add_edge(0, 1)
        for _ in range(40_000):
            g = g.subgraph([0, 1])
        assert registries() == 1, registries()
        del g
        # With a value carried along, and a new one each step that the next
        # step drops: the chain may live while the graph does, but must free.
        g = gli.Graph()
        g.add_node(0, o=Value())
        for i in range(40_000):
            g.add_node(i + 1, o=Value())
            g = g.subgraph([n for n in g.nodes() if n in (0, i + 1)])
        assert g.get_node(0)["o"].__class__ is Value
        del g
        gc.collect()
        assert not any(type(o) is Value for o in gc.get_objects())
        print("freed")
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "freed", proc.stdout + proc.stderr


def test_the_name_cache_keeps_no_str_subclass_keys_alive(backend: str) -> None:
    # The rust backend's per-thread cache of attribute names kept subclass
    # keys (and all they held) alive after the graph and the dict were gone;
    # their __del__ then ran at some later, unrelated conversion.
    class Name(str):
        pass

    key = Name("payload")
    ref = weakref.ref(key)
    g = gli.Graph(backend=backend)
    g.batch_add_nodes([(0, {key: 1})])
    g.add_node(1, **{key: 2})
    assert g.get_node(0) == {"payload": 1} and g.get_node(1) == {"payload": 2}
    del key, g
    gc.collect()
    assert ref() is None


class _Hook:
    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __del__(self) -> None:
        self.fn()


def test_a_del_that_writes_to_the_graph_finds_it_whole(backend: str) -> None:
    # An audit: the python backend freed attribute dicts midway through
    # clear() and remove_node(), so a value's __del__ that wrote to the graph
    # left it inconsistent (edge_count 1 with no edges, a predecessor that no
    # longer existed). The rust backend releases them once the call is done.
    g = gli.Graph(backend=backend)
    g.add_node("a", h=_Hook(lambda: g.add_node("from_del")))
    g.clear()
    assert g.nodes() == ["from_del"] and g.edge_count() == 0 and g.out_degree("from_del") == 0

    g = gli.Graph(backend=backend)
    for n in "xyz":
        g.add_node(n)
    g.add_edge("x", "y", h=_Hook(lambda: g.has_node("x") and g.add_edge("x", "z")))
    g.remove_node("x")
    assert g.nodes() == ["y", "z"] and g.edges() == [] and g.edge_count() == 0 and g.in_degree("z") == 0

    g = gli.Graph(backend=backend)
    g.add_node(1, v=_Hook(lambda: g.add_node(2, w=g.get_node(1)["v"])))
    g.update_node(1, v=0)
    assert g.get_node(1) == {"v": 0} and g.get_node(2) == {"w": 0}


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_collection_during_a_batch_leaves_each_item_as_it_was_read(backend: str) -> None:
    # A finalizer that a collection runs in the middle of converting an
    # item's attributes may change that dict: the item is stored as it was
    # when its reading began, or (the collection before it) as changed, but
    # never half of each. The lone-surrogate value is kept as an object;
    # finding that out makes no object that could start a collection.
    lone = "x\ud800"
    before, after = {"a": 1, "b": lone, "c": 3}, {"a": -1, "b": lone, "c": 99}
    old = gc.get_threshold()
    try:
        for j in range(1, 16):
            g = gli.Graph(backend=backend)
            d = dict(before)

            class Fin:
                def __del__(self) -> None:
                    d["a"], d["c"] = -1, 99

            gc.collect()
            cycle: list[Any] = [Fin()]
            cycle.append(cycle)
            del cycle
            gc.set_threshold(gc.get_count()[0] + j, 1000, 1000)
            g.batch_add_nodes([(1, d), (2, {"k": [1.5, "y"]})])
            gc.set_threshold(*old)
            assert g.get_node(1) in (before, after), j
    finally:
        gc.set_threshold(*old)
        gc.collect()
