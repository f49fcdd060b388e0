"""Read queries of the pure-Python reference backend.

Written against the backend's own public point queries (``nodes``,
``successors``, ``get_edge`` ...) under its one lock, so a query sees one
consistent state. Small and obviously correct: it is the oracle the Rust
backend is compared with, and it follows NetworkX's definitions.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._args import _check_id, _count, _float_text, _kind, _lookup_ids, _lookup_items, _name, _number, _numeric, _real, read_items
from ._order import graph_edges_in_history
from .exceptions import ConvergenceError, NoPathError

__all__ = ["PythonQueries"]

NodeId = Any


class PythonQueries:
    """Mixin: needs ``_lock`` (an ``RLock``) and the point-query methods."""

    __slots__ = ()

    _lock: threading.RLock

    if TYPE_CHECKING:  # the host class provides these (never defined at run time)

        def nodes(self, data: bool = False) -> list[Any]: ...  # pragma: no cover
        def edges(self, data: bool = False) -> list[Any]: ...  # pragma: no cover
        def successors(self, node_id: NodeId, /) -> list[NodeId]: ...  # pragma: no cover
        def predecessors(self, node_id: NodeId, /) -> list[NodeId]: ...  # pragma: no cover
        def get_node(self, node_id: NodeId, /) -> dict[str, Any]: ...  # pragma: no cover
        def get_edge(self, source: NodeId, target: NodeId, /) -> dict[str, Any]: ...  # pragma: no cover
        def is_directed(self) -> bool: ...  # pragma: no cover
        def batch_add_nodes(self, items: Iterable[Any], /) -> int: ...
        def batch_add_edges(self, items: Iterable[Any], /) -> int: ...

    def _require(self, node_id: NodeId) -> NodeId:
        """The id ``node_id`` names (see ``_check_id``); TypeError / NodeNotFoundError, as the rust backend."""
        self.get_node(node_id)
        return _check_id(node_id)

    def _weight(self, u: NodeId, v: NodeId, weight: str) -> float:
        return float(self._length(u, v, weight))

    def _length(self, u: NodeId, v: NodeId, weight: str) -> int | float:
        """The edge's weight as a path length: an int stays an int (NetworkX
        sums Python numbers), a missing weight is DESIGN's 1.0."""
        w = self.get_edge(u, v).get(weight, 1.0)
        if not _numeric(w):
            raise TypeError(
                f"edge {u!r} -> {v!r}: weight attribute {weight!r} is not numeric ({_kind(w)})"
            )
        return _number(w)  # type: ignore[return-value]

    def bfs(self, source: NodeId, /, depth_limit: int | None = None) -> list[NodeId]:
        if depth_limit is not None:
            depth_limit = _count("bfs", "depth_limit", depth_limit)
        with self._lock:
            source = self._require(source)
            order, seen, frontier, depth = [source], {source}, [source], 0
            while frontier and (depth_limit is None or depth < depth_limit):
                nxt = []
                for u in frontier:
                    for w in self.successors(u):
                        if w not in seen:
                            seen.add(w)
                            nxt.append(w)
                order.extend(nxt)
                frontier, depth = nxt, depth + 1
            return order

    def dfs(self, source: NodeId, /) -> list[NodeId]:
        with self._lock:
            source = self._require(source)
            order, seen = [source], {source}
            stack = [iter(self.successors(source))]
            while stack:
                for w in stack[-1]:
                    if w not in seen:
                        seen.add(w)
                        order.append(w)
                        stack.append(iter(self.successors(w)))
                        break
                else:
                    stack.pop()
            return order

    def k_hop(self, source: NodeId, /, k: int) -> list[NodeId]:
        k = _count("k_hop", "k", k)
        with self._lock:
            return self.bfs(source, depth_limit=k)[1:]

    def _bfs_lengths(self, source: NodeId) -> dict[NodeId, int]:
        dist = {source: 0}
        queue = deque([source])
        while queue:
            u = queue.popleft()
            for w in self.successors(u):
                if w not in dist:
                    dist[w] = dist[u] + 1
                    queue.append(w)
        return dist

    def _dijkstra(
        self, source: NodeId, target: NodeId | None, weight: str
    ) -> tuple[dict[NodeId, int | float], dict[NodeId, NodeId]]:
        # NetworkX's Dijkstra: lengths are Python sums (exact ints while the
        # weights are ints), compared as Python compares numbers, and the
        # queue holds (length, counter, node) tuples.
        done: dict[NodeId, int | float] = {}
        best: dict[NodeId, int | float] = {source: 0}
        pred: dict[NodeId, NodeId] = {}
        counter = itertools.count()
        heap: list[tuple[int | float, int, NodeId]] = [(0, next(counter), source)]
        while heap:
            d, _, u = heapq.heappop(heap)
            if u in done:
                continue
            done[u] = d
            if u == target:
                break
            for w in self.successors(u):
                c = self._length(u, w, weight)
                if c < 0:
                    raise ValueError(f"negative weight {_float_text(c)} on edge {u!r} -> {w!r}")
                nd = d + c
                if w in done:
                    # Only a NaN weight, which leaves the queue out of order,
                    # settles a node before a shorter path: NetworkX raises too.
                    if nd < done[w]:
                        raise ValueError(
                            f"contradictory paths found (a NaN weight?): node {w!r} was settled at distance"
                            f" {_float_text(done[w])} before edge {u!r} -> {w!r} reached it at {_float_text(nd)}"
                        )
                    continue
                if w not in best or nd < best[w]:
                    best[w] = nd
                    pred[w] = u
                    heapq.heappush(heap, (nd, next(counter), w))
        return done, pred

    def _path(self, source: NodeId, target: NodeId, weight: str | None) -> tuple[list[NodeId], float | int]:
        _lookup_ids(source, target)  # both ids' types first, then their lookups, as the rust backend
        source, target = self._require(source), self._require(target)
        if weight is None:
            parent = {source: source}
            queue = deque([source])
            while queue and target not in parent:
                u = queue.popleft()
                for w in self.successors(u):
                    if w not in parent:
                        parent[w] = u
                        queue.append(w)
            if target not in parent:
                raise NoPathError(f"No path from {source!r} to {target!r}")
            path = [target]
            while path[-1] != source:
                path.append(parent[path[-1]])
            return path[::-1], len(path) - 1
        done, pred = self._dijkstra(source, target, weight)
        if target not in done:
            raise NoPathError(f"No path from {source!r} to {target!r}")
        path = [target]
        while path[-1] != source:
            path.append(pred[path[-1]])
        return path[::-1], done[target]

    def shortest_path(self, source: NodeId, target: NodeId, /, weight: str | None = None) -> list[NodeId]:
        weight = _name(weight, "shortest_path", "weight", optional=True)
        with self._lock:
            return self._path(source, target, weight)[0]

    def shortest_path_length(
        self, source: NodeId, target: NodeId, /, weight: str | None = None
    ) -> float | int:
        weight = _name(weight, "shortest_path_length", "weight", optional=True)
        with self._lock:
            return self._path(source, target, weight)[1]

    def shortest_path_lengths(self, source: NodeId, /, weight: str | None = None) -> dict[NodeId, Any]:
        weight = _name(weight, "shortest_path_lengths", "weight", optional=True)
        with self._lock:
            source = self._require(source)
            if weight is None:
                return self._bfs_lengths(source)
            return self._dijkstra(source, None, weight)[0]

    def connected_components(self) -> list[list[NodeId]]:
        with self._lock:
            order = self.nodes()
            comp: dict[NodeId, int] = {}
            count = 0
            for root in order:
                if root in comp:
                    continue
                comp[root] = count
                stack = [root]
                while stack:
                    u = stack.pop()
                    nbrs = self.successors(u)
                    if self.is_directed():
                        nbrs = nbrs + self.predecessors(u)
                    for w in nbrs:
                        if w not in comp:
                            comp[w] = count
                            stack.append(w)
                count += 1
            members: list[list[NodeId]] = [[] for _ in range(count)]
            for v in order:
                members[comp[v]].append(v)
            return sorted(members, key=len, reverse=True)  # stable: ties keep first-node order

    def pagerank(
        self,
        alpha: float = 0.85,
        max_iter: int = 100,
        tol: float = 1e-6,
        weight: str | None = None,
    ) -> dict[NodeId, float]:
        weight = _name(weight, "pagerank", "weight", optional=True)  # first, as the rust backend's extraction checks it
        alpha_f, tol_f = _real("pagerank", "alpha", alpha), _real("pagerank", "tol", tol)
        if not 0.0 <= alpha_f <= 1.0:  # the messages show the values as given
            raise ValueError(f"pagerank: alpha must be in [0, 1], got {alpha!s}")
        if math.isnan(tol_f) or tol_f < 0.0:  # it could never be met
            raise ValueError(f"pagerank: tol must be >= 0, got {tol!s}")
        alpha, tol = alpha_f, tol_f
        max_iter = _count("pagerank", "max_iter", max_iter)
        with self._lock:
            order = self.nodes()
            n = len(order)
            if n == 0:
                return {}
            out = {u: [(w, 1.0 if weight is None else self._weight(u, w, weight)) for w in self.successors(u)] for u in order}
            # NetworkX scales each row by 1 / its out-weight sum (0 for a zero
            # sum); a row scaled by 0 (a zero or an infinite sum) is dangling.
            inv = {u: 1.0 / t if (t := sum(w for _, w in out[u])) != 0 else 0.0 for u in order}
            x = dict.fromkeys(order, 1.0 / n)
            for _ in range(max_iter):
                dangling = sum(x[u] for u in order if inv[u] == 0)
                nxt = dict.fromkeys(order, 0.0)
                for u in order:
                    if inv[u] != 0:
                        for w, c in out[u]:
                            nxt[w] += x[u] * (c * inv[u])
                for v in order:
                    nxt[v] = alpha * (nxt[v] + dangling / n) + (1 - alpha) / n
                err = sum(abs(nxt[v] - x[v]) for v in order)
                x = nxt
                if err < n * tol:
                    return x
            raise ConvergenceError(
                f"pagerank did not converge within max_iter={max_iter} iterations (tol={_float_text(tol)})"
            )

    def subgraph(self, ids: Iterable[NodeId], /) -> Any:
        wanted = _lookup_items("subgraph", read_items("subgraph", ids))  # all read, then checked
        with self._lock:
            keep = {self._require(v) for v in wanted}
            new = self._like()  # type: ignore[attr-defined]
            new.batch_add_nodes([(v, d) for v, d in self.nodes(data=True) if v in keep])
            # In an order that keeps each kept node's neighbour lists.
            new.batch_add_edges(graph_edges_in_history(self, keep))
            return new

    def _column(self, attr: str) -> list[float | None]:
        col: list[float | None] = []
        for _, d in self.nodes(data=True):
            v = d.get(attr)
            col.append(float(_number(v)) if _numeric(v) else None)  # type: ignore[arg-type]
        return col

    def get_node_values_as_array(self, attr: str = "value") -> np.ndarray:
        attr = _name(attr, "get_node_values_as_array", "attr")
        with self._lock:
            return np.array([v for v in self._column(attr) if v is not None], dtype=np.float64)

    def node_attribute_array(self, attr: str, default: float | None = float("nan")) -> np.ndarray:
        attr = _name(attr, "node_attribute_array", "attr")
        default = float("nan") if default is None else _real("node_attribute_array", "default", default)
        with self._lock:
            return np.array([default if v is None else v for v in self._column(attr)], dtype=np.float64)

