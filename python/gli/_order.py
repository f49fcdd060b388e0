"""The order to add edges in so that every node's neighbour lists come out as
given (``to_networkx``, ``from_networkx``, the reference backend's ``subgraph``)."""

from __future__ import annotations

from collections.abc import Container, Hashable, Mapping
from typing import Any

__all__ = ["edge_history", "graph_edges_in_history"]


def edge_history(
    nodes: list[Any], out: Mapping[Any, list[Any]], inn: Mapping[Any, list[Any]] | None
) -> list[tuple[Any, Any]]:
    """The edges in an order that adds every node's neighbours in the order its
    lists give them: ``out`` (and, directed, ``inn``) per node; undirected when
    ``inn`` is None (``out`` holds each node's neighbours, a self-loop once).

    Adding edges one by one appends to both endpoints' lists, so the order
    they were added in is one such order; this finds one by merging the lists
    (an edge goes once it heads both its endpoints' remaining lists), in
    O(nodes + edges). Copying edges grouped by source instead would reorder
    every predecessor list (undirected: every neighbour list), and with it
    traversals. Lists that no addition order explains (edited by hand) end
    with their remaining edges grouped by source. (The rust engine's
    ``subgraph`` needs no such order: it writes each node's lists as they are.)
    """
    directed = inn is not None
    ins = inn if inn is not None else out
    at_out = dict.fromkeys(nodes, 0)
    at_in = dict.fromkeys(nodes, 0) if directed else at_out
    # Undirected, an edge heads two lists of one kind: found from one end.
    pos = {} if directed else {u: k for k, u in enumerate(nodes)}
    ready = []
    for u in nodes:
        lu = out[u]
        if lu:
            v = lu[0]
            lv = ins[v]
            if lv and lv[0] == u and (directed or pos[u] <= pos[v]):
                ready.append((u, v))
    order: list[tuple[Any, Any]] = []
    push, pop, emit = ready.append, ready.pop, order.append
    # (Inlined: this loop runs once per edge.)
    while ready:
        u, v = pop()
        emit((u, v))
        # The lists this edge headed have new heads: each may be ready now.
        j = at_out[u] + 1
        at_out[u] = j
        lu = out[u]
        if j < len(lu):
            w = lu[j]
            lw, i = ins[w], at_in[w]
            if i < len(lw) and lw[i] == u:
                push((u, w))
        if directed or u != v:
            i = at_in[v] + 1
            at_in[v] = i
            lv = ins[v]
            if i < len(lv):
                w = lv[i]
                lw, k = out[w], at_out[w]
                if k < len(lw) and lw[k] == v:
                    push((w, v))
    total = sum(map(len, out.values()))
    if not directed:  # each edge is in two lists, a self-loop in one
        total = (total + sum(u in out[u] for u in nodes)) // 2
    if len(order) < total:
        done: set[Hashable] = set(order) if directed else {frozenset(e) for e in order}
        for u in nodes:
            for v in out[u]:
                key = (u, v) if directed else frozenset((u, v))
                if key not in done:
                    done.add(key)
                    order.append((u, v))
    return order


def graph_edges_in_history(g: Any, keep: Container[Any] | None = None) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``(s, t, attrs)`` for the edges of GLI graph ``g`` (either backend)
    among the nodes in ``keep`` (all when None), in an order that keeps each
    node's successor and predecessor lists (undirected: neighbour lists).
    The caller makes sure ``g`` does not change meanwhile (a lock, a copy)."""
    nodes = [v for v in g.nodes() if keep is None or v in keep]

    def kept(ids: list[Any]) -> list[Any]:
        return ids if keep is None else [w for w in ids if w in keep]

    if g.is_directed():
        order = edge_history(
            nodes, {u: kept(g.successors(u)) for u in nodes}, {v: kept(g.predecessors(v)) for v in nodes}
        )
    else:
        order = edge_history(nodes, {u: kept(g.neighbors(u)) for u in nodes}, None)
    attrs = {(s, t): a for s, t, a in g.edges(data=True)}
    return [(s, t, attrs[(s, t)] if (s, t) in attrs else attrs[(t, s)]) for s, t in order]
