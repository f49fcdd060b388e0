"""GLI quickstart: load a 1M-node, 2M-edge graph with the batch API, then query it.

    python examples/quickstart.py              # 1,000,000 nodes, 2,000,000 edges
    python examples/quickstart.py --nodes 10000 --edges 20000
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import gli

CHUNK = 100_000


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    line = f"{label}: {done:>10,} / {total:,}  ({rate:,.0f}/s)"
    if sys.stderr.isatty():
        print("\r" + line, end="" if done < total else "\n", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    n, m = args.nodes, args.edges
    rnd = random.Random(args.seed)
    calls_before = gli.counters()["ffi_calls"]
    g = gli.Graph(directed=True)

    t0 = time.perf_counter()
    kinds = ("user", "item", "tag")
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        g.batch_add_nodes([(f"n{i}", {"kind": kinds[i % 3], "value": rnd.random()}) for i in range(lo, hi)])
        progress("nodes", hi, n, t0)
    t_nodes = time.perf_counter() - t0

    t1 = time.perf_counter()
    added = 0
    seen: set[tuple[int, int]] = set()
    while added < m:
        chunk = []
        while len(chunk) < min(CHUNK, m - added):
            s, t = rnd.randrange(n), rnd.randrange(n)
            if (s, t) not in seen:
                seen.add((s, t))
                chunk.append((f"n{s}", f"n{t}"))
        added += g.batch_add_edges(chunk)
        progress("edges", added, m, t1)
    t_edges = time.perf_counter() - t1

    print(f"\nloaded {g.node_count():,} nodes in {t_nodes:.2f} s ({n / t_nodes:,.0f} nodes/s)")
    print(f"loaded {g.edge_count():,} edges in {t_edges:.2f} s ({m / t_edges:,.0f} edges/s)")
    print(f"get_node('n123')     -> {g.get_node('n123')}")
    print(f"degree('n123')       -> {g.degree('n123')}")
    print(f"successors('n123')   -> {g.successors('n123')[:5]}")
    t2 = time.perf_counter()
    reach = g.k_hop("n123", 2)
    print(f"k_hop('n123', 2)     -> {len(reach):,} nodes in {(time.perf_counter() - t2) * 1e6:.0f} µs")
    t3 = time.perf_counter()
    order = g.bfs("n123")
    print(f"bfs('n123')          -> {len(order):,} nodes in {(time.perf_counter() - t3) * 1e3:.0f} ms")
    t4 = time.perf_counter()
    ranks = g.pagerank()
    top = max(ranks, key=ranks.__getitem__)
    print(f"pagerank()           -> top node {top!r} ({ranks[top]:.2e}) in {(time.perf_counter() - t4) * 1e3:.0f} ms")
    print(f"FFI calls for all of the above: {gli.counters()['ffi_calls'] - calls_before:,}")


if __name__ == "__main__":
    main()
