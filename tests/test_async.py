"""Awaitable queries: same results, the loop keeps running, cancellation stops the engine."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

import gli


def random_graph(backend: str, n: int = 300, m: int = 1200, seed: int = 5) -> gli.Graph:
    rnd = random.Random(seed)
    g = gli.Graph(backend=backend)
    g.batch_add_nodes((i, {"v": i % 7}) for i in range(n))
    g.batch_add_edges({(rnd.randrange(n), rnd.randrange(n)): None for _ in range(m)}.keys())
    return g


def test_async_forms_match_the_sync_ones(backend: str) -> None:
    g = random_graph(backend)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(
                g.bfs_async(0),
                g.bfs_async(0, 2),
                g.k_hop_async(0, 2),
                g.shortest_path_lengths_async(0),
                g.connected_components_async(),
                g.pagerank_async(),
                g.filter_nodes_async(lambda n, a: a["v"] == 3),
                g.filter_nodes_async(lambda ids, b: b.column("v") > 4, vectorized=True, batch_size=50),
                g.filter_edges_async(lambda s, t, a: s < t),
            )
        )

    got = asyncio.run(main())
    want = [
        g.bfs(0), g.bfs(0, 2), g.k_hop(0, 2), g.shortest_path_lengths(0), g.connected_components(),
        g.pagerank(), g.filter_nodes(lambda n, a: a["v"] == 3),
        [n for n in g.nodes() if g.get_node(n)["v"] > 4],
        g.filter_edges(lambda s, t, a: s < t),
    ]
    assert got == want
    target = g.bfs(0)[-1]
    assert asyncio.run(g.shortest_path_async(0, target)) == g.shortest_path(0, target)


def test_async_errors_propagate(backend: str) -> None:
    g = random_graph(backend, n=10, m=5)
    with pytest.raises(gli.NodeNotFoundError):
        asyncio.run(g.bfs_async("missing"))
    boom = ValueError("from the predicate")

    def pred(n: Any, a: Any) -> bool:
        raise boom

    with pytest.raises(ValueError) as e:
        asyncio.run(g.filter_nodes_async(pred))
    assert e.value is boom

    # A future refuses StopIteration: it used to leave the task waiting forever.
    stop = StopIteration("from the predicate")

    def stops(n: Any, a: Any) -> bool:
        raise stop

    async def wait() -> Any:
        return await asyncio.wait_for(g.filter_nodes_async(stops), 30)

    with pytest.raises(RuntimeError, match="raised StopIteration") as info:
        asyncio.run(wait())
    assert info.value.__cause__ is stop


def big_graph() -> gli.Graph:
    g = gli.Graph()
    n = 100_000
    g.batch_add_nodes(range(n))
    rnd = random.Random(3)
    g.batch_add_edges({(rnd.randrange(n), rnd.randrange(n)): None for _ in range(400_000)}.keys())
    return g


def test_the_loop_keeps_running_during_a_long_pagerank() -> None:
    g = big_graph()

    async def main() -> tuple[int, float]:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.001)

        t = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        for _ in range(3):
            await g.pagerank_async(tol=1e-10, max_iter=1000)
        elapsed = time.perf_counter() - t0
        done = True
        await t
        return ticks, elapsed

    ticks, elapsed = asyncio.run(main())
    # A blocked loop would tick only between the three awaits.
    assert ticks > 20 and ticks > elapsed * 100, (ticks, elapsed)


def test_cancelling_the_task_stops_the_rust_work() -> None:
    g = big_graph()

    async def main() -> None:
        task = asyncio.create_task(g.pagerank_async(tol=0.0, max_iter=10**9))
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The worker must be idle now: the process uses (almost) no CPU.
    cpu0 = time.process_time()
    time.sleep(0.6)
    assert time.process_time() - cpu0 < 0.3, "the cancelled pagerank is still running"
    busy = [t.name for t in threading.enumerate() if t.name.startswith("gli-async")]
    assert busy  # the pool's threads exist, idle


@pytest.mark.parametrize("batch_size", [20, None])
def test_cancelling_a_filter_stops_before_the_next_predicate_call(batch_size: int | None) -> None:
    # The default batch is 16,384 nodes: a slow predicate's batch must not
    # run to its end (8 s here) after the cancel.
    g = gli.Graph()
    g.batch_add_nodes(range(100_000))
    calls = 0

    def slow(n: Any, a: Any) -> bool:
        nonlocal calls
        calls += 1
        time.sleep(0.0005)
        return True

    async def main() -> None:
        task = asyncio.create_task(g.filter_nodes_async(slow, batch_size=batch_size))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.1)
    seen = calls
    time.sleep(0.3)
    assert calls == seen < 5_000


def test_cancel_token_directly() -> None:
    g = big_graph()
    token = gli._core.CancelToken()
    assert not token.cancelled and "cancelled=False" in repr(token)
    threading.Timer(0.2, token.cancel).start()
    with token, pytest.raises(KeyboardInterrupt, match="cancelled"):
        g.pagerank(tol=0.0, max_iter=10**9)
    assert token.cancelled
    g.pagerank()  # outside the token, queries run normally


@pytest.mark.parametrize("op", ["subgraph", "dump", "load"])
def test_a_cancel_token_stops_subgraph_and_state_copies(op: str) -> None:
    # The detached parts of subgraph, pickling and copying poll the cancel
    # flag (and so Ctrl-C) like the queries do; a cancelled load leaves the
    # target graph empty.
    g = gli.Graph()
    n = 1_000_000
    g.batch_add_nodes(range(n))
    g.batch_add_edges([(i, (i * 7919 + 1) % n) for i in range(n)] + [(i, (i * 31 + 7) % n) for i in range(n)])
    ids = list(range(n))
    image = g._dump_state()
    target = gli.Graph()
    calls = {"subgraph": lambda: g.subgraph(ids), "dump": g._dump_state, "load": lambda: target._load_state(*image)}
    token = gli._core.CancelToken()
    threading.Timer(0.02, token.cancel).start()
    with token, pytest.raises(KeyboardInterrupt, match="cancelled"):
        calls[op]()
    assert target.node_count() == 0


@pytest.mark.parametrize("cancel", ["outer", "inner"])
def test_nested_cancel_tokens_either_one_stops_the_query(cancel: str) -> None:
    g = big_graph()
    outer, inner = gli._core.CancelToken(), gli._core.CancelToken()
    threading.Timer(0.2, (outer if cancel == "outer" else inner).cancel).start()
    t0 = time.perf_counter()
    with outer, inner, pytest.raises(KeyboardInterrupt, match="cancelled"):
        g.pagerank(tol=0.0, max_iter=10**9)
    assert time.perf_counter() - t0 < 30  # it stopped (not the iteration cap)
    assert inner.cancelled == (cancel == "inner") and outer.cancelled == (cancel == "outer")
    with inner if cancel == "outer" else outer:  # the one left uncancelled still works
        g.bfs(0)
    assert g.k_hop(0, 1) == g.successors(0)  # and no token stays entered


def test_nested_cancel_tokens_stop_short_queries_too() -> None:
    # An audit's finding: with two tokens entered, the outer one was read
    # only in the calling thread's 25 ms signal poll, which a query running
    # on rayon workers never reached; a loop of pageranks went on for good.
    g = big_graph()
    outer, inner = gli._core.CancelToken(), gli._core.CancelToken()
    outer.cancel()
    with outer, inner:
        for query in (g.pagerank, g.connected_components, lambda: g.subgraph([0, 1]), lambda: g.bfs(0)):
            with pytest.raises(KeyboardInterrupt, match="cancelled"):
                query()
    outer, inner = gli._core.CancelToken(), gli._core.CancelToken()
    threading.Timer(0.3, outer.cancel).start()
    t0 = time.perf_counter()
    with outer, inner, pytest.raises(KeyboardInterrupt, match="cancelled"):
        while time.perf_counter() - t0 < 60:
            g.pagerank()
    assert time.perf_counter() - t0 < 30


def test_a_token_shared_by_two_threads_is_entered_per_thread() -> None:
    g = big_graph()
    shared, mine, theirs = (gli._core.CancelToken() for _ in range(3))
    theirs.cancel()
    entered, leave = threading.Event(), threading.Event()

    def other_thread() -> None:
        with theirs, shared:  # the same token, entered on top of a cancelled one
            entered.set()
            leave.wait(60)

    t = threading.Thread(target=other_thread)
    with mine:
        with shared:
            t.start()
            entered.wait(60)
        # Leaving `shared` here must bring back this thread's `mine`, not the
        # other thread's (cancelled) `theirs`.
        assert len(g.bfs(0)) > 1
    leave.set()
    t.join(60)


def _suspended_inside(token: Any) -> Any:
    """A generator suspended inside ``with token:``, entered on this thread."""

    def block() -> Any:
        with token:
            yield

    it = block()
    next(it)
    return it


def test_a_token_exited_on_another_thread_leaves_the_thread_it_was_entered_on() -> None:
    # A `with token:` in a generator, entered on this thread and finished on
    # another: the token used to stay entered here, so cancelling it (after
    # its block had ended) cancelled this thread's later queries for good.
    g = gli.Graph()
    g.batch_add_nodes(range(1000))
    g.batch_add_edges((i, i + 1) for i in range(999))
    token = gli._core.CancelToken()

    it = _suspended_inside(token)
    t = threading.Thread(target=lambda: next(it, None))
    t.start()
    t.join()
    token.cancel()
    try:
        assert len(g.pagerank()) == 1000
    except KeyboardInterrupt:  # a failure, not the end of the test session
        pytest.fail("the token still cancels this thread's queries after its block ended")
    with token, pytest.raises(KeyboardInterrupt, match="cancelled"):
        g.pagerank()


def test_values_a_cancelled_query_lets_go_are_freed_outside_its_token() -> None:
    # A value's __del__ is not part of the query that released it: it used to
    # run under that query's cancelled token, and its own GLI calls failed.
    g = gli.Graph()
    g.batch_add_nodes(range(100))
    seen: list[Any] = []

    class Resource:
        def __del__(self) -> None:
            try:
                seen.append(len(g.pagerank()))
            except BaseException as e:  # noqa: BLE001 - recorded for the assert
                seen.append(e)

    g.add_node("r", res=Resource())
    token = gli._core.CancelToken()
    token.cancel()
    with token:
        g.remove_node("r")
    assert seen == [100]


def test_a_token_exited_by_a_released_value_leaves_the_thread() -> None:
    # A generator suspended inside `with token:`, stored in the graph and
    # released by a removal: its close runs the token's __exit__ while the
    # release sets the thread's tokens aside. A first version of that moved
    # them out and back, so the exit missed the token and it stayed entered
    # for good (a review).
    g = gli.Graph()
    g.batch_add_nodes(range(100))
    token = gli._core.CancelToken()

    it = _suspended_inside(token)
    g.add_node("x", h=it)
    del it
    g.remove_node("x")
    token.cancel()
    try:
        assert len(g.pagerank()) == 100
    except KeyboardInterrupt:  # a failure, not the end of the test session
        pytest.fail("the token stayed entered after its block was closed by a release")


def test_a_cancelled_token_stops_converting_a_large_result() -> None:
    # Converting a result runs attached; it now polls the thread's tokens
    # (and Ctrl-C) whenever it lets the GIL go, every 5 ms, instead of
    # building a multi-million-item result to the end.
    g = gli.Graph()
    g.batch_add_nodes(range(1_000_000))
    token = gli._core.CancelToken()
    token.cancel()
    with token, pytest.raises(KeyboardInterrupt, match="cancelled"):
        g.nodes()
    assert len(g.nodes()) == 1_000_000
