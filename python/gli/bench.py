"""GLI's benchmark: ``python -m gli.bench [--quick] [--only SUBSTR] [--json PATH]``.

Measures, in one run and side by side, the rust backend, the pure-Python
backend, and NetworkX and rustworkx when they are importable, each used as a
user would. Prints ns per operation (median of repeats) and ratios
(``x`` = how many times faster the rust backend is). Sizes follow the issues;
``--quick`` divides them by 20 for a smoke run.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import gli

try:
    import networkx as nx
except ImportError:  # pragma: no cover - optional
    nx = None
try:
    import rustworkx as rx
except ImportError:  # pragma: no cover - optional
    rx = None

LIBS = ("gli-rust", "gli-python", "networkx", "rustworkx")
Timer = Callable[[], float]  # returns ns per op


def _ns(fn: Callable[[], Any], ops: int, repeat: int = 5, setup: Callable[[], Any] | None = None) -> float:
    """Median ns per op of ``fn`` (which performs ``ops`` operations)."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / ops)
    return statistics.median(samples)


def _rss() -> int:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Bench:
    def __init__(self, quick: bool, only: str | None) -> None:
        self.scale = 20 if quick else 1
        self.only = only
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def n(self, full: int) -> int:
        return max(full // self.scale, 10)

    def row(self, name: str, unit: str, timers: dict[str, Timer | None]) -> None:
        if self.only and self.only not in name:
            return
        res: dict[str, float | None] = {}
        for lib in LIBS:
            t = timers.get(lib)
            try:
                res[lib] = None if t is None else t()
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                self.notes.append(f"{name} / {lib}: {type(e).__name__}: {e}")
                res[lib] = None
        self.rows.append({"workload": name, "unit": unit, **res})
        self._print_row(self.rows[-1])

    def _print_row(self, r: dict[str, Any]) -> None:
        def fmt(v: float | None) -> str:
            if v is None:
                return "—"
            return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"

        def ratio(other: float | None) -> str:
            me = r["gli-rust"]
            if me is None or other is None or me == 0:
                return "—"
            return f"{other / me:.1f}x"

        cols = [fmt(r[lib]) for lib in LIBS] + [ratio(r[lib]) for lib in LIBS[1:]]
        print(f"| {r['workload']} | {r['unit']} | " + " | ".join(cols) + " |", flush=True)

    def header(self) -> None:
        print("| workload | unit | gli rust | gli python | networkx | rustworkx | vs python | vs networkx | vs rustworkx |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")


# ------------------------------------------------------------------ core ops


def core(b: Bench) -> None:
    k = b.n(100_000)
    ids = [f"n{i}" for i in range(k)]
    attrs5 = {"a1": 1, "a2": 2.0, "a3": "x", "a4": True, "a5": None}
    attrs100 = {f"k{j}": j for j in range(100)}

    def gli_graph(backend: str, n: int = 1000) -> gli.Graph:
        g = gli.Graph(backend=backend)
        g.batch_add_nodes([(f"n{i}", attrs5) for i in range(n)])
        return g

    def counted(make: Callable[[], Any], call: Callable[[Any], Callable[[], Any]], ops: int) -> Timer:
        return lambda: _ns(call(make()), ops)

    loops = 200_000 // b.scale

    def nc(g: Any, m: str) -> Callable[[], Any]:
        f = getattr(g, m)

        def go() -> None:
            for _ in range(loops):
                f()

        return go

    def nx_graph() -> Any:
        g = nx.DiGraph()
        g.add_nodes_from((f"n{i}", attrs5) for i in range(1000))
        return g

    def rx_graph() -> Any:
        g = rx.PyDiGraph()
        g.add_nodes_from([dict(attrs5) for _ in range(1000)])
        return g

    # Every library holds the same 1,000 nodes, so each call returns the same int.
    b.row("node_count()", "ns/call", {
        "gli-rust": counted(lambda: gli_graph("rust"), lambda g: nc(g, "node_count"), loops),
        "gli-python": counted(lambda: gli_graph("python"), lambda g: nc(g, "node_count"), loops),
        "networkx": nx and counted(nx_graph, lambda g: nc(g, "number_of_nodes"), loops),
        "rustworkx": rx and counted(rx_graph, lambda g: nc(g, "num_nodes"), loops),
    })

    def hn(g: Any) -> Callable[[], Any]:
        f = g.has_node

        def go() -> None:
            for _ in range(loops):
                f("n123")

        return go

    b.row('has_node("n123")', "ns/call", {
        "gli-rust": counted(lambda: gli_graph("rust"), hn, loops),
        "gli-python": counted(lambda: gli_graph("python"), hn, loops),
        "networkx": nx and counted(nx_graph, hn, loops),
        "rustworkx": rx and (lambda: _rx_has_node(loops)),
    })

    def adder(make: Callable[[], Any], method: str, attrs: dict[str, Any], n: int) -> Timer:
        def run() -> float:
            holder: list[Any] = []

            def setup() -> None:
                holder[:] = [make()]

            def go() -> None:
                f = getattr(holder[0], method)
                if method == "add_node" and not isinstance(holder[0], gli._core.Graph) and rx and isinstance(holder[0], rx.PyDiGraph):
                    for _ in ids[:n]:
                        f(dict(attrs) if attrs else None)
                else:
                    for i in ids[:n]:
                        f(i, **attrs)

            return _ns(go, n, repeat=5, setup=setup)

        return run

    for label, attrs, n in (("no attributes", {}, k), ("5 attributes", attrs5, k), ("100 attributes", attrs100, max(k // 5, 10))):
        b.row(f"add_node, {label}, one call at a time", "ns/call", {
            "gli-rust": adder(lambda: gli.Graph(), "add_node", attrs, n),
            "gli-python": adder(lambda: gli.Graph(backend="python"), "add_node", attrs, max(n // 5, 10)),
            "networkx": nx and adder(nx.DiGraph, "add_node", attrs, max(n // 5, 10)),
            "rustworkx": rx and adder(rx.PyDiGraph, "add_node", attrs, n),
        })

    def gn(g: Any) -> Callable[[], Any]:
        f = g.get_node

        def go() -> None:
            for _ in range(loops):
                f("n123")

        return go

    b.row("get_node, 5 attributes", "ns/call", {
        "gli-rust": counted(lambda: gli_graph("rust"), gn, loops),
        "gli-python": counted(lambda: gli_graph("python"), gn, loops),
        "networkx": nx and (lambda: _nx_get_node(loops, attrs5)),
        "rustworkx": rx and (lambda: _rx_get_node(loops, attrs5)),
    })

    big = b.n(1_000_000)
    items = [(f"n{i}", {"kind": "a" if i % 2 else "b", "value": i * 0.5}) for i in range(big)]
    small = items[: max(big // 10, 10)]

    def bulk_nodes(make: Callable[[], Any], add: Callable[[Any, list[Any]], Any], data: list[Any]) -> Timer:
        return lambda: _ns(lambda: add(make(), data), len(data), repeat=3)

    b.row(f"batch_add_nodes, {big:,} (str id, 2 attrs)", "ns/node", {
        "gli-rust": bulk_nodes(gli.Graph, lambda g, d: g.batch_add_nodes(d), items),
        "gli-python": bulk_nodes(lambda: gli.Graph(backend="python"), lambda g, d: g.batch_add_nodes(d), small),
        "networkx": nx and bulk_nodes(nx.DiGraph, lambda g, d: g.add_nodes_from(d), items),
        "rustworkx": rx and bulk_nodes(rx.PyDiGraph, lambda g, d: g.add_nodes_from([a for _, a in d]), items),
    })
    del items, small

    nn, ne = b.n(200_000), b.n(2_000_000)
    rnd = random.Random(1)
    edges = list(dict.fromkeys((rnd.randrange(nn), rnd.randrange(nn)) for _ in range(int(ne * 1.01))))[:ne]
    few = edges[: max(ne // 10, 10)]

    def bulk_edges(make: Callable[[], Any], add: Callable[[Any, list[Any]], Any], data: list[Any]) -> Timer:
        holder: list[Any] = []
        return lambda: _ns(lambda: add(holder[0], data), len(data), repeat=3, setup=lambda: holder.__setitem__(slice(None), [make()]))

    def gli_nodes(backend: str) -> Callable[[], Any]:
        def make() -> Any:
            g = gli.Graph(backend=backend)
            g.batch_add_nodes(range(nn))
            return g
        return make

    def rx_nodes() -> Any:
        g = rx.PyDiGraph()
        g.add_nodes_from(range(nn))
        return g

    def nx_nodes() -> Any:
        g = nx.DiGraph()
        g.add_nodes_from(range(nn))
        return g

    b.row(f"batch_add_edges, {len(edges):,} between existing int ids", "ns/edge", {
        "gli-rust": bulk_edges(gli_nodes("rust"), lambda g, d: g.batch_add_edges(d), edges),
        "gli-python": bulk_edges(gli_nodes("python"), lambda g, d: g.batch_add_edges(d), few),
        "networkx": nx and bulk_edges(nx_nodes, lambda g, d: g.add_edges_from(d), edges),
        "rustworkx": rx and bulk_edges(rx_nodes, lambda g, d: g.add_edges_from_no_data(d), edges),
    })
    del edges, few

    q = [f"n{i}" for i in range(0, 1000, 7)] * 70  # ~10k ids

    def batch_get(g: Any) -> Callable[[], Any]:
        return lambda: g.get_nodes_batch(q)

    b.row("get_nodes_batch, 10k ids, 5 attributes", "ns/node", {
        "gli-rust": counted(lambda: gli_graph("rust"), batch_get, len(q)),
        "gli-python": counted(lambda: gli_graph("python"), batch_get, len(q)),
        "networkx": nx and (lambda: _nx_get_batch(q, attrs5)),
        "rustworkx": None,
    })


def _rx_has_node(loops: int) -> float:
    g = rx.PyDiGraph()
    idx = {f"n{i}": g.add_node(f"n{i}") for i in range(1000)}  # a user's own id map
    def go() -> None:
        for _ in range(loops):
            "n123" in idx and g.has_node(idx["n123"])

    return _ns(go, loops)


def _rx_get_node(loops: int, attrs: dict[str, Any]) -> float:
    g = rx.PyDiGraph()
    i = g.add_node(dict(attrs))

    def go() -> None:  # rustworkx hands back its stored dict: no copy, unlike get_node
        for _ in range(loops):
            g[i]

    return _ns(go, loops)


def _nx_get_node(loops: int, attrs: dict[str, Any]) -> float:
    g = nx.DiGraph()
    g.add_node("n123", **attrs)
    nodes = g.nodes

    def go() -> None:
        for _ in range(loops):
            dict(nodes["n123"])

    return _ns(go, loops)


def _nx_get_batch(q: list[str], attrs: dict[str, Any]) -> float:
    g = nx.DiGraph()
    g.add_nodes_from((f"n{i}", attrs) for i in range(1000))
    nodes = g.nodes
    return _ns(lambda: [dict(nodes[x]) for x in q], len(q))


# ------------------------------------------------------------------- memory

MEM_NODES, MEM_EDGES = 200_000, 1_000_000


def _memory_child(lib: str, scale: int) -> None:
    n, m = MEM_NODES // scale, MEM_EDGES // scale
    rnd = random.Random(5)
    before = _rss()
    if lib == "gli-rust":
        g: Any = gli.Graph()
        g.batch_add_nodes(range(n))
    elif lib == "networkx":
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
    else:
        g = rx.PyDiGraph()
        g.add_nodes_from([None] * n)
    seen: set[tuple[int, int]] = set()
    added = 0
    while added < m:
        chunk = []
        while len(chunk) < min(100_000, m - added):
            e = (rnd.randrange(n), rnd.randrange(n))
            if e not in seen:
                seen.add(e)
                chunk.append(e)
        seen_size = len(seen)
        if lib == "gli-rust":
            g.batch_add_edges(chunk)
        elif lib == "networkx":
            g.add_edges_from(chunk)
        else:
            g.add_edges_from_no_data(chunk)
        added += len(chunk)
        del chunk
    del seen
    after = _rss()
    out = {"per_edge": (after - before) / m, "edges": m, "seen": seen_size}
    if lib == "gli-rust":
        g.pagerank()
        out["per_edge_after_pagerank"] = (_rss() - before) / m
    print(json.dumps(out))


def memory(b: Bench) -> None:
    res: dict[str, Timer | None] = {}
    extra: dict[str, float] = {}
    for lib in ("gli-rust", "networkx", "rustworkx"):
        if (lib == "networkx" and nx is None) or (lib == "rustworkx" and rx is None):
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "gli.bench", "--_memory", lib, "--_scale", str(b.scale)],
            capture_output=True, text=True, check=True,
        )
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        res[lib] = (lambda v=data["per_edge"]: v)
        if "per_edge_after_pagerank" in data:
            extra["after"] = data["per_edge_after_pagerank"]
    b.row(f"memory: RSS growth, {MEM_NODES // b.scale:,} nodes + {MEM_EDGES // b.scale:,} edges", "bytes/edge", res)
    if "after" in extra:
        b.row("memory: same graph after one pagerank (read view built)", "bytes/edge", {"gli-rust": lambda: extra["after"]})


# ------------------------------------------------------------ read queries


def _random_digraph(n: int, m: int, seed: int = 3) -> list[tuple[int, int]]:
    rnd = random.Random(seed)
    return list(dict.fromkeys((rnd.randrange(n), rnd.randrange(n)) for _ in range(int(m * 1.01))))[:m]


def queries(b: Bench) -> None:
    n, m = b.n(200_000), b.n(1_000_000)
    edges = _random_digraph(n, m)
    g = gli.Graph()
    g.batch_add_nodes(range(n))
    g.batch_add_edges(edges)
    pg = gli.Graph(backend="python")
    pg.batch_add_nodes(range(n))
    pg.batch_add_edges(edges)
    G = None
    if nx is not None:
        G = nx.DiGraph()
        G.add_nodes_from(range(n))
        G.add_edges_from(edges)
    R = None
    if rx is not None:
        R = rx.PyDiGraph()
        R.add_nodes_from(range(n))
        R.add_edges_from_no_data(edges)
    src = 0
    ms = 1e6  # ns -> ms

    def t(fn: Callable[[], Any], repeat: int = 3) -> float:
        return _ns(fn, 1, repeat=repeat) / ms

    b.row(f"bfs(source), {n:,} nodes / {len(edges):,} edges", "ms", {
        "gli-rust": lambda: t(lambda: g.bfs(src)),
        "gli-python": lambda: t(lambda: pg.bfs(src), 1),
        "networkx": G is not None and (lambda: t(lambda: [src] + [v for _, v in nx.bfs_edges(G, src)], 1)) or None,
        "rustworkx": R is not None and (lambda: t(lambda: [src] + [v for _, v in rx.bfs_successors(R, src) for v in v])) or None,
    })
    b.row("connected_components() (weak)", "ms", {
        "gli-rust": lambda: t(g.connected_components),
        "gli-python": lambda: t(pg.connected_components, 1),
        "networkx": G is not None and (lambda: t(lambda: list(nx.weakly_connected_components(G)), 1)) or None,
        "rustworkx": R is not None and (lambda: t(lambda: rx.weakly_connected_components(R))) or None,
    })
    b.row("pagerank() (tol 1e-6)", "ms", {
        "gli-rust": lambda: t(g.pagerank),
        "gli-python": lambda: t(pg.pagerank, 1),
        "networkx": G is not None and (lambda: t(lambda: nx.pagerank(G), 1)) or None,
        "rustworkx": R is not None and (lambda: t(lambda: rx.pagerank(R))) or None,
    })
    b.row("shortest_path_lengths(source)", "ms", {
        "gli-rust": lambda: t(lambda: g.shortest_path_lengths(src)),
        "gli-python": lambda: t(lambda: pg.shortest_path_lengths(src), 1),
        "networkx": G is not None and (lambda: t(lambda: nx.single_source_shortest_path_length(G, src), 1)) or None,
        "rustworkx": R is not None and (lambda: t(lambda: rx.dijkstra_shortest_path_lengths(R, src, lambda _: 1.0))) or None,
    })
    sources = [random.Random(9).randrange(n) for _ in range(2000)]

    def khop_gli(graph: Any) -> float:
        return _ns(lambda: [graph.k_hop(s, 2) for s in sources], len(sources)) / 1000

    def khop_nx() -> float:
        return _ns(lambda: [list(nx.single_source_shortest_path_length(G, s, cutoff=2))[1:] for s in sources], len(sources)) / 1000

    def khop_rx() -> float:
        def one(s: int) -> list[int]:  # two levels of successor_indices, as a user writes it
            seen, out, frontier = {s}, [], [s]
            for _ in range(2):
                nxt = [w for v in frontier for w in R.successor_indices(v) if w not in seen and not seen.add(w)]
                out += nxt
                frontier = nxt
            return out

        return _ns(lambda: [one(s) for s in sources], len(sources)) / 1000

    b.row("k_hop(source, 2)", "µs/query", {
        "gli-rust": lambda: khop_gli(g),
        "gli-python": lambda: khop_gli(pg),
        "networkx": G is not None and khop_nx or None,
        "rustworkx": R is not None and khop_rx or None,
    })
    if G is not None:
        ok = g.bfs(src) == [src] + [v for _, v in nx.bfs_edges(G, src)]
        ok &= sorted(map(sorted, g.connected_components())) == sorted(map(sorted, nx.weakly_connected_components(G)))
        ok &= g.shortest_path_lengths(src) == nx.single_source_shortest_path_length(G, src)
        pr, want = g.pagerank(), nx.pagerank(G)
        ok &= all(abs(pr[k] - want[k]) <= 1e-9 + 1e-6 * want[k] for k in want)
        b.notes.append(f"results equal to NetworkX's on the benchmark graph: {'yes' if ok else 'NO'}")
    threads(b, g, sources, n)
    interleaved(b, g, n)


def _throughput(work: Callable[[int], Any], items: int, nthreads: int) -> float:
    """Items per second when `nthreads` threads share `items` calls of `work`."""
    barrier = threading.Barrier(nthreads + 1)
    per = items // nthreads

    def run(k: int) -> None:
        barrier.wait()
        for i in range(k * per, (k + 1) * per):
            work(i)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(nthreads)]
    for th in ts:
        th.start()
    t0 = time.perf_counter()
    barrier.wait()
    for th in ts:
        th.join()
    return per * nthreads / (time.perf_counter() - t0)


def threads(b: Bench, g: gli.Graph, sources: list[int], n: int) -> None:
    def scaling(work: Callable[[int], Any], items: int) -> float:
        one = statistics.median(_throughput(work, items, 1) for _ in range(3))
        two = statistics.median(_throughput(work, items, 2) for _ in range(3))
        return two / one

    try:
        import numpy as np

        arr = np.random.default_rng(0).random(2_000_000)
        ceiling = scaling(lambda _: np.sort(arr), 16)  # numpy releases the GIL while sorting
    except ImportError:  # pragma: no cover
        ceiling = float("nan")
    b.notes.append(f"this machine's own 2-thread ceiling (numpy sort, GIL released): {ceiling:.2f}x")
    b.row("thread scaling, 2 threads vs 1, full bfs", "x throughput", {
        "gli-rust": lambda: scaling(lambda i: g.bfs(sources[i % len(sources)]), 24),
    })
    b.row("thread scaling, 2 threads vs 1, k_hop(·, 2)", "x throughput", {
        "gli-rust": lambda: scaling(lambda i: g.k_hop(sources[i % len(sources)], 2), 20000),
    })

    def gil_kept() -> float:
        def loop_rate(seconds: float) -> float:
            count, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                count += 1
            return count / seconds

        idle = loop_rate(0.5)
        stop = threading.Event()

        def ranker() -> None:
            while not stop.is_set():
                g.pagerank()

        th = threading.Thread(target=ranker)
        th.start()
        time.sleep(0.05)
        busy = loop_rate(1.0)
        stop.set()
        th.join()
        return busy / idle

    b.row("main-thread loop rate kept while another thread runs pagerank", "share", {"gli-rust": gil_kept})


def interleaved(b: Bench, g: gli.Graph, n: int) -> None:
    rnd = random.Random(11)

    def pairs(graph: gli.Graph, count: int) -> float:
        def go() -> None:
            for _ in range(count):
                s, t = rnd.randrange(n), rnd.randrange(n)
                if not graph.has_edge(s, t):
                    graph.add_edge(s, t)
                graph.k_hop(s, 2)

        return _ns(go, count, repeat=3) / 1000

    small = gli.Graph()
    small.batch_add_nodes(range(n))
    small.batch_add_edges(_random_digraph(n, max(n // 2, 10), seed=4))
    b.row(f"interleaved add_edge + k_hop(·, 2), {small.edge_count():,} edges", "µs/pair", {"gli-rust": lambda: pairs(small, 2000)})
    b.row(f"interleaved add_edge + k_hop(·, 2), {g.edge_count():,} edges", "µs/pair", {"gli-rust": lambda: pairs(g, 2000)})

    def after_write() -> float:
        g.pagerank()
        steady = _ns(g.pagerank, 1, repeat=3)
        samples = []
        for _ in range(3):
            s, t = rnd.randrange(n), rnd.randrange(n)
            if not g.has_edge(s, t):
                g.add_edge(s, t)
            t0 = time.perf_counter_ns()
            g.pagerank()
            samples.append(time.perf_counter_ns() - t0)
        return statistics.median(samples) / steady

    b.row("first pagerank right after one write / unchanged graph", "ratio", {"gli-rust": after_write})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m gli.bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes / 20: a smoke run")
    p.add_argument("--only", help="run only workloads whose name contains this")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--_memory", help=argparse.SUPPRESS)
    p.add_argument("--_scale", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory:
        _memory_child(args._memory, args._scale)
        return
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"# gli {gli.__version__} bench — Python {sys.version.split()[0]} (GIL {'enabled' if gil else 'disabled'}), "
          f"{os.cpu_count()} cores, networkx {getattr(nx, '__version__', 'absent')}, rustworkx {getattr(rx, '__version__', 'absent')}"
          + (" — QUICK sizes (/20)" if args.quick else ""))
    b = Bench(args.quick, args.only)
    b.header()
    core(b)
    memory(b)
    queries(b)
    for note in b.notes:
        print(f"- {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": b.rows, "notes": b.notes}, f, indent=1)


if __name__ == "__main__":
    main()
