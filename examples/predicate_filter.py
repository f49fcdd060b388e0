"""Filtering with a Python predicate, with ``where`` pushdown, and vectorized.

    python examples/predicate_filter.py             # 1,000,000 nodes
    python examples/predicate_filter.py --nodes 10000

``filter_nodes`` scans a snapshot in Rust with the GIL released, applies
``where`` natively, and calls the predicate in batches: one GIL crossing per
batch, not per node. ``gli.counters()`` shows the crossings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import gli


def measured(label: str, run: Callable[[], list[Any]], n: int) -> list[Any]:
    before = gli.counters()
    t0 = time.perf_counter()
    out = run()
    ms = (time.perf_counter() - t0) * 1e3
    after = gli.counters()
    d = {k: after[k] - before[k] for k in ("gil_reacquisitions", "predicate_calls", "predicate_batches")}
    print(
        f"{label:<58} {len(out):>9,} kept  {ms:8.1f} ms  {ms * 1e6 / n:6.1f} ns/node  "
        f"crossings={d['gil_reacquisitions']} calls={d['predicate_calls']:,} batches={d['predicate_batches']}"
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="filter_nodes three ways")
    p.add_argument("--nodes", type=int, default=1_000_000)
    args = p.parse_args()
    n = args.nodes
    g = gli.Graph()
    g.batch_add_nodes(
        (i, {"status": "active" if i % 3 else "idle", "value": (i * 7919 % 1000) / 1000}) for i in range(n)
    )

    def active(node: Any, attrs: Mapping[str, Any]) -> bool:
        return bool(attrs["status"] == "active")

    def high(ids: list[Any], batch: Any) -> Any:
        return batch.column("value") > 0.5  # a numpy bool array, built in Rust

    a = measured("predicate: attrs['status'] == 'active'", lambda: g.filter_nodes(active), n)
    b = measured("where={'status': 'active'} (native, no predicate calls)", lambda: g.filter_nodes(where={"status": "active"}), n)
    assert a == b
    c = measured("where + predicate: attrs['value'] > 0.5", lambda: g.filter_nodes(lambda v, at: at["value"] > 0.5, where={"status": "active"}), n)
    d = measured("where + vectorized: batch.column('value') > 0.5", lambda: g.filter_nodes(high, where={"status": "active"}, vectorized=True), n)
    assert c == d
    e = measured("batch_size=1000 (more, smaller crossings)", lambda: g.filter_nodes(active, batch_size=1000), n)
    assert e == a
    values = np.asarray(g.node_attribute_array("value"))
    print(f"check: {int((values > 0.5).sum()):,} nodes have value > 0.5 overall")


if __name__ == "__main__":
    main()
