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


def loaded(what: str, count: int, wall: float, in_gli: float) -> None:
    print(
        f"loaded {count:,} {what} in {wall:.2f} s ({count / max(wall, 1e-9):,.0f} {what}/s with input generation; "
        f"batch calls alone {in_gli:.2f} s, {count / max(in_gli, 1e-9):,.0f} {what}/s)"
    )


def show(label: str, value: object) -> None:
    print(f"{label:<24} -> {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Load a random graph with GLI's batch API, then query it.")
    parser.add_argument("--nodes", type=int, default=1_000_000, help="number of nodes (default 1,000,000)")
    parser.add_argument("--edges", type=int, default=2_000_000, help="number of distinct random edges (default 2,000,000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args()
    n, m = args.nodes, args.edges
    if n < 1 or m < 0:
        parser.error("--nodes must be at least 1 and --edges at least 0")
    if m > n * n:  # at most one edge per (source, target) pair, self-loops allowed
        parser.error(f"--edges: {n:,} nodes hold at most {n * n:,} distinct edges")
    rnd = random.Random(args.seed)
    calls_before = gli.counters()["ffi_calls"]
    g = gli.Graph(directed=True)

    # Wall time includes making the input in Python; in_gli is the batch calls alone.
    t0 = time.perf_counter()
    in_gli_nodes = 0.0
    kinds = ("user", "item", "tag")
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        items = [(f"n{i}", {"kind": kinds[i % 3], "value": rnd.random()}) for i in range(lo, hi)]
        tb = time.perf_counter()
        g.batch_add_nodes(items)
        in_gli_nodes += time.perf_counter() - tb
        progress("nodes", hi, n, t0)
    t_nodes = time.perf_counter() - t0

    t1 = time.perf_counter()
    in_gli_edges = 0.0
    added = 0
    seen: set[tuple[int, int]] = set()
    while added < m:
        chunk: list[tuple[str, str]] = []
        while len(chunk) < min(CHUNK, m - added):
            s, t = rnd.randrange(n), rnd.randrange(n)
            if (s, t) not in seen:  # a repeated pair would make the whole batch fail
                seen.add((s, t))
                chunk.append((f"n{s}", f"n{t}"))
        tb = time.perf_counter()
        added += g.batch_add_edges(chunk)
        in_gli_edges += time.perf_counter() - tb
        progress("edges", added, m, t1)
    t_edges = time.perf_counter() - t1
    # A node with out-edges, so that the samples below show something.
    probe = min((s for s, _ in seen), default=0)
    p = f"n{probe}"
    del seen

    print()
    loaded("nodes", g.node_count(), t_nodes, in_gli_nodes)
    loaded("edges", g.edge_count(), t_edges, in_gli_edges)
    show(f"get_node({p!r})", g.get_node(p))
    show(f"degree({p!r})", f"{g.degree(p)} (out {g.out_degree(p)}, in {g.in_degree(p)})")
    show(f"successors({p!r})[:5]", g.successors(p)[:5])
    t2 = time.perf_counter()
    reach = g.k_hop(p, 2)
    show(f"k_hop({p!r}, 2)", f"{len(reach):,} nodes in {(time.perf_counter() - t2) * 1e6:.0f} µs")
    t3 = time.perf_counter()
    order = g.bfs(p)
    show(f"bfs({p!r})", f"{len(order):,} nodes in {(time.perf_counter() - t3) * 1e3:.0f} ms")
    t4 = time.perf_counter()
    ranks = g.pagerank()
    top = max(ranks, key=ranks.__getitem__)
    show("pagerank()", f"top node {top!r} ({ranks[top]:.2e}) in {(time.perf_counter() - t4) * 1e3:.0f} ms")
    print(f"FFI calls for all of the above: {gli.counters()['ffi_calls'] - calls_before:,}")


if __name__ == "__main__":
    main()
