"""numpy interop: attribute columns and pagerank scores as arrays.

    python examples/numpy_export.py
    python examples/numpy_export.py --nodes 5000

``node_attribute_array(attr)`` is aligned with ``nodes()`` (missing values as
NaN or a default); ``get_node_values_as_array(attr)`` keeps only the numeric
ones. Both are built in Rust from one snapshot, without a Python object per value.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

import gli


def main() -> None:
    p = argparse.ArgumentParser(description="numpy export")
    p.add_argument("--nodes", type=int, default=200_000)
    args = p.parse_args()
    n = args.nodes
    rnd = random.Random(2)
    g = gli.Graph()
    # Every tenth node has no "weight": it shows up as NaN (or the default).
    g.batch_add_nodes((i, {"weight": rnd.random()} if i % 10 else {}) for i in range(n))
    g.batch_add_edges({(rnd.randrange(n), rnd.randrange(n)): None for _ in range(3 * n)}.keys())

    t0 = time.perf_counter()
    weights = g.node_attribute_array("weight")
    present = g.get_node_values_as_array("weight")
    zeros = g.node_attribute_array("weight", default=0.0)
    t1 = time.perf_counter()
    print(f"columns of {n:,} nodes in {(t1 - t0) * 1e3:.1f} ms: dtype={weights.dtype}, "
          f"NaN (missing)={int(np.isnan(weights).sum()):,}, present={present.size:,}")
    assert np.array_equal(np.nan_to_num(weights, nan=0.0), zeros)

    ranks = g.pagerank()
    ids = np.fromiter(ranks.keys(), dtype=np.int64, count=len(ranks))
    scores = np.fromiter(ranks.values(), dtype=np.float64, count=len(ranks))
    assert np.array_equal(ids, np.asarray(g.nodes()))  # pagerank follows node order
    top = np.argsort(scores)[::-1][:5]
    print("top-5 by pagerank:", [(int(ids[k]), round(float(scores[k]), 6)) for k in top])
    corr = np.corrcoef(np.nan_to_num(weights), scores)[0, 1]
    print(f"correlation(weight, pagerank) = {corr:+.4f} (random weights: near 0)")


if __name__ == "__main__":
    main()
