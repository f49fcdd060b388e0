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
