"""A thread pool serving mixed reads and writes on one GLI graph.

    python examples/threads.py                      # 100,000 nodes, 1, 2 and 4 threads
    python examples/threads.py --nodes 5000 --ops 2000

Each worker runs a mix that a service would: point reads (``get_node``,
``successors``), 2-hop neighbourhoods (``k_hop``, run in Rust with the GIL
released), filters with ``where`` pushdown, and writes (``add_edge``,
``update_node``). The script prints throughput by thread count and checks the
graph's invariants at the end. Read queries from different threads run in
parallel; on free-threaded CPython the Python parts do too.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import gli


def build(n: int, seed: int = 1) -> gli.Graph:
    rnd = random.Random(seed)
    g = gli.Graph()
    g.batch_add_nodes((i, {"kind": rnd.choice(("user", "item")), "score": rnd.random()}) for i in range(n))
    g.batch_add_edges({(rnd.randrange(n), rnd.randrange(n)): None for _ in range(4 * n)}.keys())
    return g


def work(g: gli.Graph, n: int, ops: int, seed: int) -> int:
    """``ops`` mixed operations; returns how many ran."""
    rnd = random.Random(seed)
    for k in range(ops):
        v = rnd.randrange(n)
        r = rnd.random()
        if r < 0.40:
            g.get_node(v)
            g.successors(v)
        elif r < 0.75:
            g.k_hop(v, 2)
        elif r < 0.80:
            if k % 50 == 0:
                g.filter_nodes(where={"kind": "user"})
            else:
                g.degree(v)
        elif r < 0.90:
            t = rnd.randrange(n)
            if not g.has_edge(v, t):
                try:
                    g.add_edge(v, t, w=r)
                except gli.EdgeAlreadyExistsError:
                    pass  # another thread added it first
        else:
            g.update_node(v, score=r)
    return ops


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=100_000)
    p.add_argument("--ops", type=int, default=20_000, help="operations per thread count")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    args = p.parse_args()

    g = build(args.nodes)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"graph: {g.node_count():,} nodes, {g.edge_count():,} edges; GIL {'enabled' if gil else 'disabled'}")
    base = None
    for threads in args.threads:
        per = args.ops // threads
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            done = sum(pool.map(lambda s: work(g, args.nodes, per, s), range(threads)))
        rate = done / (time.perf_counter() - t0)
        base = base or rate
        print(f"{threads} thread(s): {rate:>12,.0f} ops/s  ({rate / base:.2f}x the 1-thread rate)")

    if gil:
        print("(with the GIL, the Python side of every call runs one thread at a time; "
              "the Rust side of k_hop and filters runs detached)")
    nodes = g.nodes()
    assert sum(g.out_degree(v) for v in nodes) == g.edge_count()
    print(f"consistent: {g.edge_count():,} edges = sum of out-degrees")


if __name__ == "__main__":
    main()
