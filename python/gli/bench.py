"""GLI's benchmark: ``python -m gli.bench [--quick] [--only SUBSTR] [--json PATH]``.

Measures, in one run and side by side, the rust backend, the pure-Python
backend, and NetworkX and rustworkx when they are importable, each used as a
user would. Prints the median of repeats per operation and ratios (``x`` = how
many times faster the rust backend is). Sizes follow the issues; ``--quick``
divides them by 20 for a smoke run. Where the pure-Python backend is slow it
gets smaller inputs; every figure is per operation, so the columns compare.

Adding a workload: write ``def my_rows(b: Bench) -> None`` that calls
``b.row(name, unit, {library: timer})`` (a timer returns the figure, ``None``
means "not measured"), guard any expensive setup with ``b.wants(name)`` so that
``--only`` stays fast, and append the function to ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import functools
import gc
import importlib
import itertools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import gli


def _optional(name: str) -> Any:
    """The module, or ``None`` when it is not installed: the bench runs with what is there."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


nx: Any = _optional("networkx")
rx: Any = _optional("rustworkx")
np: Any = _optional("numpy")

LIBS = ("gli-rust", "gli-python", "networkx", "rustworkx")
Timer = Callable[[], float]  # returns the row's figure (ns per op, ms, bytes per edge, ...)

ATTRS5: dict[str, Any] = {"a1": 1, "a2": 2.0, "a3": "x", "a4": True, "a5": None}
SMALL = 1_000  # every call-overhead row uses a graph of this many nodes, in every library
MEM_NODES, MEM_EDGES = 200_000, 1_000_000
PY_SHARE = 10  # the pure-Python backend's inputs are this many times smaller where it is slow


# ------------------------------------------------------------------ helpers


def _ns(fn: Callable[[], Any], ops: int, repeat: int = 5, setup: Callable[[], Any] | None = None) -> float:
    """Median ns per op of ``fn`` (which performs ``ops`` operations); ``setup`` runs untimed."""
    return _ns_paired([fn], [ops], repeat, setup)[0]


def _ns_paired(
    fns: list[Callable[[], Any]], ops: list[int], repeat: int = 5, setup: Callable[[], Any] | None = None
) -> list[float]:
    """Median ns per op of each of ``fns``, sampled in turn (one of each per round),
    so that rows compared with each other see the same machine conditions;
    ``setup`` runs untimed before each sample."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, n, out in zip(fns, ops, samples):
            if setup is not None:
                setup()
            gc.collect()
            t0 = time.perf_counter_ns()
            fn()
            out.append((time.perf_counter_ns() - t0) / n)
    return [statistics.median(s) for s in samples]


@functools.cache
def _method_loop(name: str, nargs: int) -> Callable[..., None]:
    """``for _ in range(n): obj.<name>(a0, ...)``, compiled for ``name``.

    The loop makes the call as a user writes it, a method call on the
    object (which CPython specializes: a pre-bound method object would take
    its generic call path instead), with no wrapper frame per call, and
    iterates as ``timeit`` does (``itertools.repeat``: no ``int`` per turn).
    """
    if not name.isidentifier():
        raise ValueError(f"not a method name: {name!r}")
    params = "".join(f", a{i}" for i in range(nargs))
    src = f"def loop(obj, n{params}):\n    for _ in repeat(None, n):\n        obj.{name}({params[2:]})\n"
    namespace: dict[str, Any] = {"repeat": itertools.repeat}
    exec(compile(src, f"<gli.bench loop of .{name}>", "exec"), namespace)
    return cast(Callable[..., None], namespace["loop"])


def _calls(obj: Any, name: str, loops: int, *args: Any) -> Callable[[], None]:
    """``loops`` calls ``obj.<name>(*args)``: see ``_method_loop``."""
    loop = _method_loop(name, len(args))
    return lambda: loop(obj, loops, *args)


def _rss() -> int:
    """Resident set size in bytes, after returning freed memory to the OS."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _distinct_pairs(n: int, m: int, seed: int) -> list[tuple[int, int]]:
    """Exactly ``m`` distinct random (source, target) pairs over ``range(n)``, in draw order."""
    rnd = random.Random(seed)
    m = min(m, n * n)
    out: dict[tuple[int, int], None] = {}
    while len(out) < m:
        out[(rnd.randrange(n), rnd.randrange(n))] = None
    return list(out)


def machine_info() -> dict[str, Any]:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return {
        "gli": gli.__version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gil_enabled": gil,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "networkx": getattr(nx, "__version__", None),
        "rustworkx": getattr(rx, "__version__", None),
    }


class Bench:
    def __init__(self, quick: bool, only: str | None) -> None:
        self.scale = 20 if quick else 1
        self.only = only
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def n(self, full: int) -> int:
        return max(full // self.scale, 10)

    def wants(self, *names: str) -> bool:
        """Whether ``--only`` selects any of these rows (check before expensive setup)."""
        return self.only is None or any(self.only in name for name in names)

    def row(self, name: str, unit: str, timers: dict[str, Timer | None]) -> None:
        if not self.wants(name):
            return
        res: dict[str, float | None] = {}
        for lib in LIBS:
            t = timers.get(lib)
            try:
                v = None if t is None else t()
                res[lib] = None if v is None or math.isnan(v) else v  # NaN: not measurable here
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
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)


# ------------------------------------------------ call overhead (1,000 nodes)


class Small:
    """The same 1,000-node graph ("n0" … "n999", 5 attributes each) in every library.

    rustworkx indexes nodes by position, so its user keeps an id -> index dict.
    """

    def __init__(self) -> None:
        self.rust = self._gli("rust")
        self.python = self._gli("python")
        self.nx: Any = None
        self.rx: Any = None
        self.rx_index: dict[str, int] = {}
        if nx is not None:
            self.nx = nx.DiGraph()
            self.nx.add_nodes_from((f"n{i}", ATTRS5) for i in range(SMALL))
        if rx is not None:
            self.rx = rx.PyDiGraph()
            idx = self.rx.add_nodes_from([dict(ATTRS5) for _ in range(SMALL)])
            self.rx_index = {f"n{i}": j for i, j in enumerate(idx)}

    @staticmethod
    def _gli(backend: str) -> Any:
        g = gli.Graph(backend=backend)
        g.batch_add_nodes([(f"n{i}", ATTRS5) for i in range(SMALL)])
        return g


@functools.cache
def _small() -> Small:
    return Small()


def node_count_rows(b: Bench) -> None:
    name = "node_count()"
    if not b.wants(name):
        return
    s, loops = _small(), 200_000 // b.scale
    # Same node count everywhere, so every call returns the same (uncached) int.
    b.row(name, "ns/call", {
        "gli-rust": lambda: _ns(_calls(s.rust, "node_count", loops), loops),
        "gli-python": lambda: _ns(_calls(s.python, "node_count", loops), loops),
        "networkx": (lambda: _ns(_calls(s.nx, "number_of_nodes", loops), loops)) if nx else None,
        "rustworkx": (lambda: _ns(_calls(s.rx, "num_nodes", loops), loops)) if rx else None,
    })


def has_node_rows(b: Bench) -> None:
    name = 'has_node("n123")'
    if not b.wants(name):
        return
    s, loops = _small(), 200_000 // b.scale

    def rx_has() -> float:
        g, idx = s.rx, s.rx_index

        def go() -> None:
            for _ in itertools.repeat(None, loops):  # the same loop as the method rows'
                "n123" in idx and g.has_node(idx["n123"])

        return _ns(go, loops)

    b.row(name, "ns/call", {
        "gli-rust": lambda: _ns(_calls(s.rust, "has_node", loops, "n123"), loops),
        "gli-python": lambda: _ns(_calls(s.python, "has_node", loops, "n123"), loops),
        "networkx": (lambda: _ns(_calls(s.nx, "has_node", loops, "n123"), loops)) if nx else None,
        "rustworkx": rx_has if rx else None,
    })


def add_node_rows(b: Bench) -> None:
    k = b.n(100_000)
    ids = [f"n{i}" for i in range(k)]
    attrs100 = {f"k{j}": j for j in range(100)}

    def adder(make: Callable[[], Any], attrs: dict[str, Any], n: int) -> Timer:
        holder: list[Any] = []

        def go() -> None:
            g = holder[0]
            if not attrs:  # as a user adds a bare node: no `**{}` to unpack
                for i in ids[:n]:
                    g.add_node(i)
                return
            for i in ids[:n]:
                g.add_node(i, **attrs)

        return lambda: _ns(go, n, setup=lambda: holder.__setitem__(slice(None), [make()]))

    def rx_adder(attrs: dict[str, Any], n: int) -> Timer:
        holder: list[Any] = []

        def go() -> None:
            # rustworkx assigns indices: its user keeps the id -> index dict
            # (as the has_node / get_node rows charge it); the payload is the
            # attribute dict, stored by reference.
            g, index = holder
            for i in ids[:n]:
                index[i] = g.add_node(dict(attrs) if attrs else None)

        return lambda: _ns(go, n, setup=lambda: holder.__setitem__(slice(None), [rx.PyDiGraph(), {}]))

    for label, attrs, n in (("no attributes", {}, k), ("5 attributes", ATTRS5, k), ("100 attributes", attrs100, max(k // 5, 10))):
        b.row(f"add_node, {label}, one call at a time", "ns/call", {
            "gli-rust": adder(gli.Graph, attrs, n),
            "gli-python": adder(lambda: gli.Graph(backend="python"), attrs, max(n // 5, 10)),
            "networkx": adder(nx.DiGraph, attrs, n) if nx else None,
            "rustworkx": rx_adder(attrs, n) if rx else None,
        })


def get_node_rows(b: Bench) -> None:
    name = "get_node, 5 attributes"
    if not b.wants(name):
        return
    s, loops = _small(), 200_000 // b.scale

    def nx_get() -> float:
        nodes = s.nx.nodes

        def go() -> None:  # a fresh dict, as get_node returns
            for _ in itertools.repeat(None, loops):
                dict(nodes["n123"])

        return _ns(go, loops)

    def rx_get() -> float:
        g, idx = s.rx, s.rx_index

        def go() -> None:  # rustworkx hands back its stored dict: no copy, unlike get_node
            for _ in itertools.repeat(None, loops):
                g[idx["n123"]]

        return _ns(go, loops)

    b.row(name, "ns/call", {
        "gli-rust": lambda: _ns(_calls(s.rust, "get_node", loops, "n123"), loops),
        "gli-python": lambda: _ns(_calls(s.python, "get_node", loops, "n123"), loops),
        "networkx": nx_get if nx else None,
        "rustworkx": rx_get if rx else None,
    })


BATCH_VS_CALLS = "  ↳ batch_add_nodes vs add_node one call at a time, same items, per node"


def batch_add_nodes_rows(b: Bench) -> None:
    big = b.n(1_000_000)
    name = f"batch_add_nodes, {big:,} (str id, 2 attrs)"
    if not b.wants(name):
        return
    items = [(f"n{i}", {"kind": "a" if i % 2 else "b", "value": i * 0.5}) for i in range(big)]
    few = items[: max(big // PY_SHARE, 10)]

    def bulk(make: Callable[[], Any], add: Callable[[Any, list[Any]], Any], data: list[Any]) -> Timer:
        # The graph is made in the untimed setup and freed at the next one: only the insert is timed.
        holder: list[Any] = []
        return lambda: _ns(lambda: add(holder[0], data), len(data), repeat=3, setup=lambda: holder.__setitem__(slice(None), [make()]))

    b.row(name, "ns/node", {
        "gli-rust": bulk(gli.Graph, lambda g, d: g.batch_add_nodes(d), items),
        "gli-python": bulk(lambda: gli.Graph(backend="python"), lambda g, d: g.batch_add_nodes(d), few),
        "networkx": bulk(nx.DiGraph, lambda g, d: g.add_nodes_from(d), items) if nx else None,
        # rustworkx: payloads are the caller's dicts, by reference; the user keeps the id -> index dict
        "rustworkx": bulk(rx.PyDiGraph, lambda g, d: dict(zip([i for i, _ in d], g.add_nodes_from([a for _, a in d]))), items)
        if rx else None,
    })
    # The same items added one call at a time (the first fifth of them), sampled
    # in turn with the batch so that the ratio sees the same machine conditions.
    calls = items[: max(big // 5, 10)]
    graphs: list[Any] = []

    def one_by_one() -> None:
        g = graphs[1]
        for i, a in calls:
            g.add_node(i, **a)

    batch_ns, call_ns = _ns_paired(
        [lambda: graphs[0].batch_add_nodes(items), one_by_one],
        [len(items), len(calls)],
        repeat=3,
        setup=lambda: graphs.__setitem__(slice(None), [gli.Graph(), gli.Graph()]),
    )
    graphs.clear()
    b.notes.append(
        f"add_node one call at a time with the same (str id, 2 attrs) items: {call_ns:.0f} ns/node"
        f" (batch_add_nodes beside it: {batch_ns:.0f})"
    )
    b.row(BATCH_VS_CALLS, "x faster", {"gli-rust": lambda: call_ns / batch_ns})


EDGES_FROM_ARRAY = "  ↳ batch_add_edges, the same edges as an (m, 2) int64 numpy array"


def batch_add_edges_rows(b: Bench) -> None:
    nn, ne = b.n(200_000), b.n(2_000_000)
    name = f"batch_add_edges, {ne:,} between existing int ids"
    if not b.wants(name, EDGES_FROM_ARRAY):
        return
    edges = _distinct_pairs(nn, ne, seed=1)
    few = edges[: max(ne // PY_SHARE, 10)]

    def with_nodes(make: Callable[[], Any], add_nodes: Callable[[Any], Any]) -> Callable[[], Any]:
        def build() -> Any:
            g = make()
            add_nodes(g)
            return g

        return build

    def bulk(make: Callable[[], Any], add: Callable[[Any, list[Any]], Any], data: list[Any]) -> Timer:
        holder: list[Any] = []
        return lambda: _ns(lambda: add(holder[0], data), len(data), repeat=3, setup=lambda: holder.__setitem__(slice(None), [make()]))

    def gli_nodes(backend: str) -> Callable[[], Any]:
        return with_nodes(lambda: gli.Graph(backend=backend), lambda g: g.batch_add_nodes(range(nn)))

    b.row(name, "ns/edge", {
        "gli-rust": bulk(gli_nodes("rust"), lambda g, d: g.batch_add_edges(d), edges),
        "gli-python": bulk(gli_nodes("python"), lambda g, d: g.batch_add_edges(d), few),
        "networkx": bulk(with_nodes(nx.DiGraph, lambda g: g.add_nodes_from(range(nn))),
                         lambda g, d: g.add_edges_from(d), edges) if nx else None,
        # rustworkx node indices 0..nn-1 are the ids
        "rustworkx": bulk(with_nodes(rx.PyDiGraph, lambda g: g.add_nodes_from(range(nn))),
                          lambda g, d: g.add_edges_from_no_data(d), edges) if rx else None,
    })
    if np is not None:
        arr = np.array(edges, dtype=np.int64)
        b.row(EDGES_FROM_ARRAY, "ns/edge", {
            "gli-rust": bulk(gli_nodes("rust"), lambda g, d: g.batch_add_edges(d), arr),
            "gli-python": bulk(gli_nodes("python"), lambda g, d: g.batch_add_edges(d), arr[: len(few)]),
        })


def get_nodes_batch_rows(b: Bench) -> None:
    name = "get_nodes_batch, 10k ids, 5 attributes"
    if not b.wants(name):
        return
    s = _small()
    q = [f"n{i}" for i in range(0, SMALL, 7)] * 70  # 10,010 ids

    def nx_batch() -> float:
        nodes = s.nx.nodes
        return _ns(lambda: [dict(nodes[x]) for x in q], len(q))

    def rx_batch() -> float:
        g, idx = s.rx, s.rx_index
        return _ns(lambda: [g[idx[x]] for x in q], len(q))

    b.row(name, "ns/node", {
        "gli-rust": lambda: _ns(lambda: s.rust.get_nodes_batch(q), len(q)),
        "gli-python": lambda: _ns(lambda: s.python.get_nodes_batch(q), len(q)),
        "networkx": nx_batch if nx else None,
        "rustworkx": rx_batch if rx else None,
    })


# ------------------------------------------------------------------- memory


def _memory_child(lib: str, scale: int) -> None:
    """Run in a fresh interpreter: build the graph in chunks, print RSS growth per edge as JSON."""
    n, m = MEM_NODES // scale, MEM_EDGES // scale
    rnd = random.Random(5)
    before = _rss()
    g: Any
    if lib in ("gli-rust", "gli-python"):
        g = gli.Graph(backend=lib.removeprefix("gli-"))
        g.batch_add_nodes(range(n))
    elif lib == "networkx":
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
    elif lib == "rustworkx":
        g = rx.PyDiGraph()
        g.add_nodes_from([None] * n)
    else:
        raise SystemExit(f"unknown library {lib!r}")
    seen: set[tuple[int, int]] = set()
    added = 0
    while added < m:
        chunk: list[tuple[int, int]] = []
        while len(chunk) < min(100_000, m - added):
            e = (rnd.randrange(n), rnd.randrange(n))
            if e not in seen:
                seen.add(e)
                chunk.append(e)
        if lib.startswith("gli-"):
            g.batch_add_edges(chunk)
        elif lib == "networkx":
            g.add_edges_from(chunk)
        else:
            g.add_edges_from_no_data(chunk)
        added += len(chunk)
        del chunk
    del seen  # the inputs are freed before the reading: only the graph remains
    out = {"per_edge": (_rss() - before) / m, "edges": m, "nodes": n}
    if lib == "gli-rust":
        g.pagerank()
        out["per_edge_after_pagerank"] = (_rss() - before) / m
    print(json.dumps(out))


def memory_rows(b: Bench) -> None:
    name = f"memory: RSS growth, {MEM_NODES // b.scale:,} nodes + {MEM_EDGES // b.scale:,} edges"
    after_name = "memory: same graph after one pagerank (read view built)"
    if not b.wants(name, after_name):
        return
    res: dict[str, Timer | None] = {}
    extra: dict[str, float] = {}
    for lib in LIBS:
        if (lib == "networkx" and nx is None) or (lib == "rustworkx" and rx is None):
            continue
        scale = b.scale * (PY_SHARE if lib == "gli-python" else 1)
        proc = subprocess.run(
            [sys.executable, "-m", "gli.bench", "--_memory", lib, "--_scale", str(scale)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            b.notes.append(f"memory / {lib}: child exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
            continue
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        res[lib] = functools.partial(float, data["per_edge"])
        if "per_edge_after_pagerank" in data:
            extra["after"] = data["per_edge_after_pagerank"]
    b.row(name, "bytes/edge", res)
    if "after" in extra:
        b.row(after_name, "bytes/edge", {"gli-rust": functools.partial(float, extra["after"])})
    if "gli-python" in res:
        b.notes.append(f"memory: gli python built a graph {PY_SHARE}x smaller (same nodes:edges ratio)")


# ------------------------------------------------------------ read queries


class QueryGraphs:
    """One random digraph (int ids) loaded into every library."""

    def __init__(self, n: int, m: int) -> None:
        self.n = n
        self.edges = _distinct_pairs(n, m, seed=3)
        self.g = gli.Graph()
        self.g.batch_add_nodes(range(n))
        self.g.batch_add_edges(self.edges)
        self.pg = gli.Graph(backend="python")
        self.pg.batch_add_nodes(range(n))
        self.pg.batch_add_edges(self.edges)
        self.G: Any = None
        self.R: Any = None
        if nx is not None:
            self.G = nx.DiGraph()
            self.G.add_nodes_from(range(n))
            self.G.add_edges_from(self.edges)
        if rx is not None:
            self.R = rx.PyDiGraph()
            self.R.add_nodes_from(range(n))
            self.R.add_edges_from_no_data(self.edges)
        # 2,000 different sources (one generator: a new `Random(9)` per item
        # gave the same source 2,000 times, cache-hot, until 2026-11-27).
        rng = random.Random(9)
        self.sources = [rng.randrange(n) for _ in range(2000)]


def _ms(fn: Callable[[], Any], repeat: int = 3) -> float:
    return _ns(fn, 1, repeat=repeat) / 1e6


def query_rows(b: Bench) -> None:
    n, m = b.n(200_000), b.n(1_000_000)
    names = {
        "bfs": f"bfs(source), {n:,} nodes / {m:,} edges",
        "cold": "  ↳ the first bfs on a fresh copy (traversal cache cold; the rows here run warm)",
        "cc": "connected_components() (weak)",
        "pr": "pagerank() (tol 1e-6)",
        "spl": "shortest_path_lengths(source)",
        "khop": "k_hop(source, 2)",
    }
    if not b.wants(*names.values(), *THREAD_ROWS, *INTERLEAVED_ROWS):
        return
    qg = QueryGraphs(n, m)
    g, pg, G, R, src = qg.g, qg.pg, qg.G, qg.R, 0

    def nx_bfs() -> list[int]:
        return [src] + [v for _, v in nx.bfs_edges(G, src)]

    def rx_bfs() -> list[int]:  # BFS order, level by level (bfs_successors repeats seen nodes)
        return [v for layer in rx.bfs_layers(R, [src]) for v in layer]

    def rx_lengths() -> dict[int, int]:  # unweighted: by levels, as NetworkX's and GLI's
        return {v: d for d, layer in enumerate(rx.bfs_layers(R, [src])) for v in layer}

    def cold_bfs() -> float:
        # A fresh copy has no cached adjacency: its first traversal builds it
        # (the other rows run warm, after their first sample built it).
        samples = []
        for _ in range(3):
            fresh = copy.copy(g)
            t0 = time.perf_counter_ns()
            fresh.bfs(src)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
            del fresh
        return statistics.median(samples)

    b.row(names["bfs"], "ms", {
        "gli-rust": lambda: _ms(lambda: g.bfs(src)),
        "gli-python": lambda: _ms(lambda: pg.bfs(src), 1),
        "networkx": (lambda: _ms(nx_bfs, 1)) if G is not None else None,
        "rustworkx": (lambda: _ms(rx_bfs)) if R is not None else None,
    })
    b.row(names["cold"], "ms", {"gli-rust": cold_bfs})
    b.row(names["cc"], "ms", {
        "gli-rust": lambda: _ms(g.connected_components),
        "gli-python": lambda: _ms(pg.connected_components, 1),
        "networkx": (lambda: _ms(lambda: list(nx.weakly_connected_components(G)), 1)) if G is not None else None,
        "rustworkx": (lambda: _ms(lambda: rx.weakly_connected_components(R))) if R is not None else None,
    })
    b.row(names["pr"], "ms", {
        "gli-rust": lambda: _ms(g.pagerank),
        "gli-python": lambda: _ms(pg.pagerank, 1),
        "networkx": (lambda: _ms(lambda: nx.pagerank(G), 1)) if G is not None else None,
        "rustworkx": (lambda: _ms(lambda: rx.pagerank(R))) if R is not None else None,
    })
    b.row(names["spl"], "ms", {
        "gli-rust": lambda: _ms(lambda: g.shortest_path_lengths(src)),
        "gli-python": lambda: _ms(lambda: pg.shortest_path_lengths(src), 1),
        "networkx": (lambda: _ms(lambda: nx.single_source_shortest_path_length(G, src), 1)) if G is not None else None,
        "rustworkx": (lambda: _ms(rx_lengths)) if R is not None else None,
    })
    sources = qg.sources

    def khop_gli(graph: Any) -> float:
        return _ns(lambda: [graph.k_hop(s, 2) for s in sources], len(sources)) / 1000

    def khop_nx() -> float:
        return _ns(lambda: [list(nx.single_source_shortest_path_length(G, s, cutoff=2))[1:] for s in sources],
                   len(sources)) / 1000

    def khop_rx() -> float:
        def one(s: int) -> list[int]:  # two levels of successor_indices, as a user writes it
            seen, out, frontier = {s}, [], [s]
            for _ in range(2):
                nxt = []
                for v in frontier:
                    for w in R.successor_indices(v):
                        if w not in seen:
                            seen.add(w)
                            nxt.append(w)
                out += nxt
                frontier = nxt
            return out

        return _ns(lambda: [one(s) for s in sources], len(sources)) / 1000

    b.row(names["khop"], "µs/query", {
        "gli-rust": lambda: khop_gli(g),
        "gli-python": lambda: khop_gli(pg),
        "networkx": khop_nx if G is not None else None,
        "rustworkx": khop_rx if R is not None else None,
    })
    if G is not None and b.wants(*names.values()):
        # GLI (both backends) against NetworkX; rustworkx's rows against it too,
        # so that every column computes the same thing.
        want_cc = sorted(map(sorted, nx.weakly_connected_components(G)))
        want_spl = nx.single_source_shortest_path_length(G, src)
        want_pr = nx.pagerank(G)

        def close(pr: Any) -> bool:
            return all(abs(pr[k] - want_pr[k]) <= 1e-9 + 1e-6 * want_pr[k] for k in want_pr)

        g_pr = g.pagerank()
        checks = {
            "gli-rust": [
                g.bfs(src) == nx_bfs(), sorted(map(sorted, g.connected_components())) == want_cc,
                g.shortest_path_lengths(src) == want_spl, close(g_pr),
                all(g.k_hop(s, 2) == list(nx.single_source_shortest_path_length(G, s, cutoff=2))[1:]
                    for s in sources[:50]),
            ],
            "gli-python": [pg.bfs(src) == nx_bfs(), pg.shortest_path_lengths(src) == want_spl],
        }
        rx_note = ""
        if R is not None:
            checks["rustworkx"] = [
                set(rx_bfs()) == set(want_spl), rx_lengths() == want_spl,
                sorted(map(sorted, rx.weakly_connected_components(R))) == want_cc,
            ]
            rx_pr = rx.pagerank(R)
            l1 = sum(abs(rx_pr[k] - want_pr[k]) for k in want_pr)
            rx_note = (
                f"; rustworkx's bfs is compared as a set (it orders a level differently), its pagerank"
                f" is not compared: it stops on another test (L1 distance from NetworkX's {l1:.1e}, GLI's"
                f" {sum(abs(g_pr[k] - want_pr[k]) for k in want_pr):.1e}); its pagerank and lengths"
                " come back as Rust-backed mappings, not dicts"
            )
        ok = {lib: all(c) for lib, c in checks.items()}
        b.notes.append(
            "results equal to NetworkX's on the benchmark graph (bfs order, components, lengths, pagerank, "
            "k_hop): " + ", ".join(f"{lib} {'yes' if v else 'NO'}" for lib, v in ok.items()) + rx_note
        )
    del pg, G, R, qg.pg, qg.G, qg.R  # the rows below use the rust graph only
    thread_rows(b, g, sources)
    interleaved_rows(b, g, n)


# ------------------------------------------------- threads and interleaving

THREAD_ROWS = (
    "thread scaling, 2 threads vs 1, full bfs",
    "thread scaling, 2 threads vs 1, k_hop(·, 2)",
    "main-thread loop rate kept while another thread runs pagerank",
)
INTERLEAVED_ROWS = (
    "interleaved add_edge + k_hop(·, 2)",
    "first pagerank right after one write / unchanged graph",
    "update_node from inside a filter predicate (a live snapshot), first write per record chunk",
)


def _throughput(work: Callable[[int], Any], items: int, nthreads: int) -> float:
    """Items per second when ``nthreads`` threads share ``items`` calls of ``work``."""
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


def _scaling(work: Callable[[int], Any], items: int) -> float:
    one = statistics.median(_throughput(work, items, 1) for _ in range(3))
    two = statistics.median(_throughput(work, items, 2) for _ in range(3))
    return two / one


def thread_rows(b: Bench, g: Any, sources: list[int]) -> None:
    if not b.wants(*THREAD_ROWS):
        return
    if np is not None:
        arr = np.random.default_rng(0).random(2_000_000)
        ceiling = _scaling(lambda _: np.sort(arr), 16)  # numpy releases the GIL while sorting
        b.notes.append(f"this machine's own 2-thread ceiling (numpy sort, GIL released): {ceiling:.2f}x")
    b.row(THREAD_ROWS[0], "x throughput", {
        "gli-rust": lambda: _scaling(lambda i: g.bfs(sources[i % len(sources)]), 24),
    })
    # 100,000 queries: a fifth of a second or more per measurement (20,000
    # took 25-40 ms, where a thread's start and one scheduling stall of the
    # VM moved the ratio by half).
    b.row(THREAD_ROWS[1], "x throughput", {
        "gli-rust": lambda: _scaling(lambda i: g.k_hop(sources[i % len(sources)], 2), 100_000),
    })

    def gil_kept() -> float:
        def loop_rate(seconds: float) -> float:
            count, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                count += 1
            return count / seconds

        def one_round() -> float:
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

        return statistics.median(one_round() for _ in range(3))

    b.row(THREAD_ROWS[2], "share", {"gli-rust": gil_kept})


def interleaved_rows(b: Bench, g: Any, n: int) -> None:
    if not b.wants(*INTERLEAVED_ROWS):
        return
    rnd = random.Random(11)

    def pairs(graph: Any, nodes: int, count: int, write: bool = True) -> float:
        def go() -> None:
            for _ in range(count):
                s, t = rnd.randrange(nodes), rnd.randrange(nodes)
                if write and not graph.has_edge(s, t):
                    graph.add_edge(s, t)
                graph.k_hop(s, 2)

        return _ns(go, count, repeat=3) / 1000

    # The graph grows tenfold at the same average degree, so that a k_hop
    # result is as large on both: what changes is the graph's size alone.
    nodes = max(n // 10, 10)
    small = gli.Graph()
    small.batch_add_nodes(range(nodes))
    small.batch_add_edges(_distinct_pairs(nodes, max(g.edge_count() // 10, 10), seed=4))
    alone: list[float] = []
    for graph, k in ((small, nodes), (g, n)):
        name = f"{INTERLEAVED_ROWS[0]}, {graph.edge_count():,} edges, {k:,} nodes"
        if b.wants(name):
            alone.append(pairs(graph, k, 2000, write=False))
            b.row(name, "µs/pair", {"gli-rust": functools.partial(pairs, graph, k, 2000)})
    if len(alone) == 2:
        b.notes.append(
            f"k_hop(·, 2) alone on the same two graphs: {alone[0]:.1f} / {alone[1]:.1f} µs/query"
            " (the rest of a pair is has_edge, the add_edge and what it invalidates)"
        )

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

    b.row(INTERLEAVED_ROWS[1], "ratio", {"gli-rust": after_write})
    if b.wants(INTERLEAVED_ROWS[2]):
        beside = _beside_snapshot(g, n, rnd)
        b.row(INTERLEAVED_ROWS[2], "µs/write", {"gli-rust": lambda: beside[0]})
        b.notes.append(f"the same update_node calls with no snapshot alive: {beside[1]:.1f} µs/write")


def _beside_snapshot(g: Any, n: int, rnd: random.Random) -> tuple[float, float]:
    """µs per ``update_node`` while a filter's snapshot is alive (from inside
    its predicate: the first write into a part of the graph the snapshot
    shares copies that part), then per the same writes with none alive."""
    writes = 16
    beside: list[float] = []
    alone: list[float] = []
    for r in range(5):
        nodes = [rnd.randrange(n) for _ in range(writes)]

        def write(pick: list[float]) -> None:
            t0 = time.perf_counter_ns()
            for v in nodes:
                g.update_node(v, bench_round=r)
            pick.append((time.perf_counter_ns() - t0) / writes / 1000)

        def pred(node: Any, attrs: Any) -> bool:
            if len(beside) == r:  # the first call of this round
                write(beside)
            return False

        g.filter_nodes(pred)
        write(alone)
    return statistics.median(beside), statistics.median(alone)


# ------------------------------------------------------------------ filters

FILTER_ROWS = {
    "pred": "filter_nodes(lambda n, a: a['status'] == 'active')",
    "where": "filter_nodes(where={'status': 'active'})",
    "floor": "  ↳ the same predicate filter / a plain Python loop over prebuilt (id, dict) tuples",
    "value": "filter_nodes(lambda n, a: a['value'] > 0.5)",
    "vec": "filter_nodes(lambda ids, b: b.column('value') > 0.5, vectorized=True)",
    "vec_ratio": "  ↳ filter_nodes: the per-node a['value'] > 0.5 predicate / the vectorized one",
    "two": "predicate filter, {n:,} nodes × 2 attributes",
    "hundred": "predicate filter, {n:,} nodes × 100 attributes",
    "wide_ratio": "  ↳ predicate filter, 100 attributes / 2 attributes per node",
    "wide_first": "  ↳ the first predicate filter of fresh graphs (reads the maps), 100 attributes / 2",
    "wide_second": "  ↳ their second predicate filter (builds value columns of the names the first read), 100 attributes / 2",
    "crossings": "GIL reacquisitions per predicate filter (bound: ⌈candidates / batch⌉ + 1)",
    "threads": "2 threads each filtering, total time / the two one after the other",
    "ft": "parallel predicate batches vs one evaluating thread (GIL disabled only)",
}


def _status_nodes(n: int, extra: int = 0) -> Any:
    """``(id, attrs)`` items: half the nodes ``status == "active"``; ``extra`` more attributes."""
    pad = {f"x{k}": k for k in range(extra)}
    for i in range(n):
        yield i, {"status": "active" if i % 2 else "idle", "value": (i * 7919 % 1000) / 1000, **pad}


def filter_rows(b: Bench) -> None:
    if not b.wants(*FILTER_ROWS.values()):
        return
    n = b.n(1_000_000)
    pn = max(n // PY_SHARE, 10)
    g = gli.Graph()
    g.batch_add_nodes(_status_nodes(n))
    pg = gli.Graph(backend="python")
    pg.batch_add_nodes(_status_nodes(pn))
    G: Any = None
    R: Any = None
    if nx is not None:
        G = nx.DiGraph()
        G.add_nodes_from(_status_nodes(n))
    if rx is not None:
        R = rx.PyDiGraph()
        R.add_nodes_from([a for _, a in _status_nodes(n)])

    # The predicate exactly: no bool() around the comparison (that
    # would add a global lookup and a call per node to every row but
    # rustworkx's, whose predicate is the same comparison).
    pred: Callable[[Any, Any], Any] = lambda n_, a: a["status"] == "active"

    def per_node(graph: Any, size: int, **kw: Any) -> Timer:
        return lambda: _ns(lambda: graph.filter_nodes(**kw), size, repeat=3)

    nx_pred = (lambda: _ns(lambda: [v for v, d in G.nodes(data=True) if pred(v, d)], n, repeat=3)) if G is not None else None
    rx_pred = (lambda: _ns(lambda: R.filter_nodes(lambda d: d["status"] == "active"), n, repeat=3)) if R is not None else None
    b.row(f"{FILTER_ROWS['pred']}, {n:,} nodes", "ns/node", {
        "gli-rust": per_node(g, n, predicate=pred),
        "gli-python": per_node(pg, pn, predicate=pred),
        "networkx": nx_pred,
        "rustworkx": rx_pred,
    })
    if b.wants(FILTER_ROWS["floor"], FILTER_ROWS["pred"]):
        items = list(_status_nodes(n))
        # Sampled in turn, as the other ratio rows.
        floor, mine = _ns_paired(
            [lambda: [v for v, d in items if pred(v, d)], lambda: g.filter_nodes(pred)], [n, n], repeat=3
        )
        del items
        b.notes.append(f"floor (plain Python loop calling the predicate over prebuilt (id, dict) tuples): {floor:.1f} ns/node")
        b.row(FILTER_ROWS["floor"], "ratio", {"gli-rust": lambda: mine / floor})
    b.row(FILTER_ROWS["where"], "ns/node", {
        "gli-rust": per_node(g, n, where={"status": "active"}),
        "gli-python": per_node(pg, pn, where={"status": "active"}),
        "networkx": (lambda: _ns(lambda: [v for v, d in G.nodes(data=True) if d.get("status") == "active"], n, repeat=3)) if G is not None else None,
        "rustworkx": rx_pred,
    })
    vpred: Callable[[Any, Any], Any] = lambda n_, a: a["value"] > 0.5  # called in every column
    b.row(FILTER_ROWS["value"], "ns/node", {
        "gli-rust": per_node(g, n, predicate=vpred),
        "gli-python": per_node(pg, pn, predicate=vpred),
        "networkx": (lambda: _ns(lambda: [v for v, d in G.nodes(data=True) if vpred(v, d)], n, repeat=3)) if G is not None else None,
        "rustworkx": (lambda: _ns(lambda: R.filter_nodes(lambda d: d["value"] > 0.5), n, repeat=3)) if R is not None else None,
    })
    if np is not None:
        vec: dict[str, Any] = {"predicate": lambda ids, bt: bt.column("value") > 0.5, "vectorized": True}
        b.row(FILTER_ROWS["vec"], "ns/node", {
            "gli-rust": per_node(g, n, **vec),
            "gli-python": per_node(pg, pn, **vec),
        })
        if b.wants(FILTER_ROWS["vec_ratio"]):
            # Sampled in turn with the per-node filter selecting the same nodes.
            per, vectorized = _ns_paired(
                [lambda: g.filter_nodes(vpred), lambda: g.filter_nodes(**vec)], [n, n], repeat=3
            )
            b.row(FILTER_ROWS["vec_ratio"], "x faster", {"gli-rust": lambda: per / vectorized})

    def crossings() -> float:
        before = gli.counters()["gil_reacquisitions"]
        g.filter_nodes(pred)
        got = gli.counters()["gil_reacquisitions"] - before
        b.notes.append(f"predicate filter over {n:,} candidates, default batch 16,384: {got} GIL reacquisitions (bound {-(-n // 16_384) + 1})")
        return float(got)

    b.row(FILTER_ROWS["crossings"], "count", {"gli-rust": crossings})

    def two_threads() -> float:
        def both() -> None:
            ts = [threading.Thread(target=g.filter_nodes, args=(pred,)) for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        one, two = _ns_paired([lambda: (g.filter_nodes(pred), g.filter_nodes(pred)), both], [1, 1], repeat=3)
        return two / one

    b.row(FILTER_ROWS["threads"], "ratio", {"gli-rust": two_threads})

    def ft_parallel() -> float:
        if getattr(sys, "_is_gil_enabled", lambda: True)():
            b.notes.append("parallel predicate batches: the GIL is enabled here; run the bench on the free-threaded lane")
            return math.nan
        old = gli.set_filter_threads(1)
        try:
            one = _ns(lambda: g.filter_nodes(pred), n, repeat=5)
        finally:
            gli.set_filter_threads(old)
        return one / _ns(lambda: g.filter_nodes(pred), n, repeat=5)

    b.row(FILTER_ROWS["ft"], "x speed-up", {"gli-rust": ft_parallel})
    del g, pg, G, R
    gc.collect()

    wide = b.n(200_000)
    two_key, hundred_key = FILTER_ROWS["two"].format(n=wide), FILTER_ROWS["hundred"].format(n=wide)
    if b.wants(two_key, hundred_key):
        small2, small100 = gli.Graph(), gli.Graph()
        small2.batch_add_nodes(_status_nodes(wide))
        small100.batch_add_nodes(_status_nodes(wide, extra=98))
        # A fresh graph's first filter reads the maps and notes the names
        # its predicate reads; the second builds value columns of them (for
        # nodes of many attributes), which later ones read. Timed apart.
        firsts = []
        for _ in range(2):
            ns = []
            for graph in (small2, small100):
                gc.collect()
                t0 = time.perf_counter_ns()
                graph.filter_nodes(pred)
                ns.append(time.perf_counter_ns() - t0)
            firsts.append(ns[1] / ns[0])
        # Sampled in turn: their ratio is the figure that matters.
        two, hundred = _ns_paired([lambda: small2.filter_nodes(pred), lambda: small100.filter_nodes(pred)], [wide, wide])
        b.row(two_key, "ns/node", {"gli-rust": lambda: two})
        b.row(hundred_key, "ns/node", {"gli-rust": lambda: hundred})
        b.row(FILTER_ROWS["wide_ratio"], "ratio", {"gli-rust": lambda: hundred / two})
        b.row(FILTER_ROWS["wide_first"], "ratio", {"gli-rust": lambda: firsts[0]})
        b.row(FILTER_ROWS["wide_second"], "ratio", {"gli-rust": lambda: firsts[1]})


# ------------------------------------------------------------------ pickle

PICKLE_ROWS = ("pickle.dumps + pickle.loads, {n:,} nodes / {m:,} edges", "pickle size")


def pickle_rows(b: Bench) -> None:
    n, m = b.n(1_000_000), b.n(2_000_000)
    name = PICKLE_ROWS[0].format(n=n, m=m)
    if not b.wants(name, PICKLE_ROWS[1]):
        return
    import pickle

    edges = _distinct_pairs(n, m, seed=8)
    pn, pm = max(n // PY_SHARE, 10), max(m // PY_SHARE, 10)

    def gli_graph(backend: str, nodes: int, es: list[tuple[int, int]]) -> Any:
        g = gli.Graph(backend=backend)
        g.batch_add_nodes(range(nodes))
        g.batch_add_edges(es)
        return g

    def round_trip(obj: Any, count: int) -> float:
        return _ns(lambda: pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)), count, repeat=3)

    g = gli_graph("rust", n, edges)
    pg = gli_graph("python", pn, _distinct_pairs(pn, pm, seed=8))  # the same nodes:edges ratio
    G: Any = None
    R: Any = None
    if nx is not None:
        G = nx.DiGraph()
        G.add_nodes_from(range(n))
        G.add_edges_from(edges)
    if rx is not None:
        R = rx.PyDiGraph()
        R.add_nodes_from(range(n))
        R.add_edges_from_no_data(edges)
    b.row(name, "ns/edge", {
        "gli-rust": lambda: round_trip(g, m),
        "gli-python": lambda: round_trip(pg, max(pg.edge_count(), 1)),
        "networkx": (lambda: round_trip(G, m)) if G is not None else None,
        "rustworkx": (lambda: round_trip(R, m)) if R is not None else None,
    })
    def size(obj: Any) -> float:
        return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) / m

    b.row(PICKLE_ROWS[1], "bytes/edge", {
        "gli-rust": lambda: size(g),
        "networkx": (lambda: size(G)) if G is not None else None,
        "rustworkx": (lambda: size(R)) if R is not None else None,
    })
    del g, pg, G, R
    gc.collect()


# ----------------------------------------------------------------- registry

# In table order. Each section prints its rows as they are measured.
SECTIONS: list[Callable[[Bench], None]] = [
    node_count_rows,
    has_node_rows,
    add_node_rows,
    get_node_rows,
    batch_add_nodes_rows,
    batch_add_edges_rows,
    get_nodes_batch_rows,
    memory_rows,
    query_rows,  # also the thread and interleaving rows, on the same graph
    filter_rows,
    pickle_rows,
]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m gli.bench", description="GLI's benchmark, side by side with NetworkX and rustworkx.")
    p.add_argument("--quick", action="store_true", help="sizes / 20: a smoke run")
    p.add_argument("--only", metavar="SUBSTR", help="run only workloads whose name contains SUBSTR")
    p.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    p.add_argument("--_memory", help=argparse.SUPPRESS)
    p.add_argument("--_scale", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory:
        _memory_child(args._memory, args._scale)
        return
    info = machine_info()
    print(f"# gli {info['gli']} bench — {info['implementation']} {info['python']} "
          f"(GIL {'enabled' if info['gil_enabled'] else 'disabled'}), {info['cores']} cores, {info['machine']}, "
          f"networkx {info['networkx'] or 'absent'}, rustworkx {info['rustworkx'] or 'absent'}"
          + (" — QUICK sizes (/20)" if args.quick else ""))
    b = Bench(args.quick, args.only)
    b.notes.append(f"gli python gets {PY_SHARE}x smaller batch inputs and 5x fewer add_node calls; every figure is per operation")
    b.header()
    t0 = time.perf_counter()
    for section in SECTIONS:
        section(b)
    if not b.rows:
        b.notes.append(f"no workload name contains {args.only!r}")
    for note in b.notes:
        print(f"- {note}")
    print(f"- bench time: {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "quick": args.quick, "rows": b.rows, "notes": b.notes}, f, indent=1)


if __name__ == "__main__":
    main()
