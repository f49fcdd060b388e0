"""Profiling FFI overhead: one-at-a-time calls against batch calls, with cProfile.

    python examples/profiling.py
    python examples/profiling.py --nodes 20000

Each call into GLI crosses from Python into Rust. cProfile shows where the
time goes: thousands of ``add_node`` calls cost a crossing each, one
``batch_add_nodes`` call costs one. ``gli.counters()["ffi_calls"]`` counts the
crossings; ``gli.enable_tracing()`` would log each one (see the README).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable

import gli


def profiled(label: str, fn: Callable[[], object]) -> float:
    prof = cProfile.Profile()
    before = gli.counters()["ffi_calls"]
    t0 = time.perf_counter()
    prof.runcall(fn)
    took = time.perf_counter() - t0
    calls = gli.counters()["ffi_calls"] - before
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(4)
    top = [line for line in out.getvalue().splitlines() if "{" in line or ".py:" in line][:4]
    print(f"\n== {label}: {took * 1e3:.1f} ms, {calls:,} calls into gli._core")
    for line in top:
        print("   " + line.strip())
    return took


def main() -> None:
    p = argparse.ArgumentParser(description="one-at-a-time vs batch calls under cProfile")
    p.add_argument("--nodes", type=int, default=200_000)
    n = p.parse_args().nodes
    items = [(i, {"value": i % 10}) for i in range(n)]

    def one_at_a_time() -> None:
        g = gli.Graph()
        for i, attrs in items:
            g.add_node(i, **attrs)
        for i in range(n - 1):
            g.add_edge(i, i + 1)

    def batched() -> None:
        g = gli.Graph()
        g.batch_add_nodes(items)
        g.batch_add_edges((i, i + 1) for i in range(n - 1))

    g = gli.Graph()
    g.batch_add_nodes(items)

    def reads_one_at_a_time() -> None:
        for i in range(n):
            g.get_node(i)

    def reads_batched() -> None:
        g.get_nodes_batch(range(n))

    a = profiled(f"{n:,} add_node + {n - 1:,} add_edge calls", one_at_a_time)
    b = profiled("one batch_add_nodes + one batch_add_edges", batched)
    c = profiled(f"{n:,} get_node calls", reads_one_at_a_time)
    d = profiled("one get_nodes_batch call", reads_batched)
    print(f"\nbatch writes are {a / b:.1f}x faster, batch reads {c / d:.1f}x faster")


if __name__ == "__main__":
    main()
