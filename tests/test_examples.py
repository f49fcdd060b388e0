"""Every example runs (small sizes), as a new user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--nodes", "5000", "--edges", "10000"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "loaded 5,000 nodes" in proc.stdout and "loaded 10,000 edges" in proc.stdout
    assert "pagerank()" in proc.stdout


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_threads_example() -> None:
    out = run_example("threads.py", "--nodes", "3000", "--ops", "3000", "--threads", "1", "2")
    assert "1 thread(s):" in out and "2 thread(s):" in out and "consistent:" in out


def test_predicate_filter_example() -> None:
    out = run_example("predicate_filter.py", "--nodes", "20000")
    assert "crossings=2 calls=20,000 batches=2" in out  # default batch 16,384
    assert "crossings=0 calls=0" in out  # where alone never calls Python


def test_numpy_export_example() -> None:
    out = run_example("numpy_export.py", "--nodes", "5000")
    assert "NaN (missing)=500" in out and "top-5 by pagerank" in out


def test_async_queries_example() -> None:
    out = run_example("async_queries.py", "--nodes", "20000")
    assert "4 queries together" in out and "was cancelled after" in out


def test_profiling_example() -> None:
    out = run_example("profiling.py", "--nodes", "5000")
    assert "calls into gli._core" in out and "batch writes are" in out
