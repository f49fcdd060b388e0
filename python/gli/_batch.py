"""``Graph.batch_operations()``: record in Python, apply in one atomic call."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Protocol

from ._types import NodeId

__all__ = ["BatchOperations"]

# One recorded operation: (opcode, *ids, attrs?) exactly as ``_apply_ops`` takes it.
Op = tuple[Any, ...]


class _AppliesOps(Protocol):
    def _apply_ops(self, ops: list[Op], /) -> None: ...


class BatchOperations:
    """Records mutations; applies them all at ``__exit__`` in one call, atomically.

    Readers see all of the batch or none of it. If the ``with`` block raises, or
    any recorded operation is invalid when applied, nothing is applied and the
    error propagates.
    """

    __slots__ = ("_graph", "_ops", "_done", "_lock")

    def __init__(self, graph: _AppliesOps) -> None:
        self._graph = graph
        self._ops: list[Op] = []
        self._done = False
        # Another thread may record while the block exits: the check and the
        # append happen together, before or after the exit takes the list,
        # so an operation is either applied or refused, never dropped.
        # Reentrant: a signal handler may record while this thread records.
        self._lock = threading.RLock()

    def _record(self, op: Op) -> None:
        with self._lock:
            if self._done:
                raise RuntimeError("this batch has already been applied or discarded")
            self._ops.append(op)

    def add_node(self, node_id: NodeId, /, **attrs: Any) -> None:
        self._record(("add_node", node_id, attrs))

    def add_edge(self, source: NodeId, target: NodeId, /, **attrs: Any) -> None:
        self._record(("add_edge", source, target, attrs))

    def update_node(self, node_id: NodeId, /, **attrs: Any) -> None:
        self._record(("update_node", node_id, attrs))

    def update_edge(self, source: NodeId, target: NodeId, /, **attrs: Any) -> None:
        self._record(("update_edge", source, target, attrs))

    def remove_node(self, node_id: NodeId, /) -> None:
        self._record(("remove_node", node_id))

    def remove_edge(self, source: NodeId, target: NodeId, /) -> None:
        self._record(("remove_edge", source, target))

    def __len__(self) -> int:
        return len(self._ops)

    def __enter__(self) -> BatchOperations:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            ops, self._ops, self._done = self._ops, [], True
        if exc_type is None and ops:
            self._graph._apply_ops(ops)
