"""Awaitable queries in an asyncio service: the loop keeps serving meanwhile.

    python examples/async_queries.py
    python examples/async_queries.py --nodes 20000

``await g.pagerank_async()`` runs the Rust work on a worker thread with the
GIL released; a heartbeat task keeps ticking. Cancelling a task (here through
``asyncio.wait_for``'s timeout) stops the engine's work promptly.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import gli


def build(n: int) -> gli.Graph:
    rnd = random.Random(4)
    g = gli.Graph()
    g.batch_add_nodes((i, {"group": i % 5}) for i in range(n))
    g.batch_add_edges({(rnd.randrange(n), rnd.randrange(n)): None for _ in range(5 * n)}.keys())
    return g


async def main_async(n: int) -> None:
    g = build(n)
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    beat = asyncio.create_task(heartbeat())
    t0 = time.perf_counter()
    ranks, comps, hop, chosen = await asyncio.gather(
        g.pagerank_async(tol=1e-9, max_iter=500),
        g.connected_components_async(),
        g.k_hop_async(0, 2),
        g.filter_nodes_async(lambda v, a: a["group"] == 3 and v % 7 == 0),
    )
    took = time.perf_counter() - t0
    print(f"4 queries together in {took * 1e3:.0f} ms; the heartbeat ticked {ticks} times meanwhile")
    print(f"pagerank over {len(ranks):,} nodes, {len(comps):,} components, "
          f"{len(hop):,} nodes within 2 hops of 0, {len(chosen):,} filtered")

    t1 = time.perf_counter()
    try:
        await asyncio.wait_for(g.pagerank_async(tol=0.0, max_iter=10**9), timeout=0.2)
    except TimeoutError:
        print(f"an endless pagerank was cancelled after {(time.perf_counter() - t1) * 1e3:.0f} ms; "
              "its worker stopped at the engine's next poll")
    stop.set()
    await beat


def main() -> None:
    p = argparse.ArgumentParser(description="async queries")
    p.add_argument("--nodes", type=int, default=200_000)
    asyncio.run(main_async(p.parse_args().nodes))


if __name__ == "__main__":
    main()
