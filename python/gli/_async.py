"""Awaitable forms of the long queries and the filters.

``await g.pagerank_async(...)`` runs ``g.pagerank(...)`` on a worker thread
(GLI's Rust work runs there with the GIL released) and completes an asyncio
future on the caller's loop through ``loop.call_soon_threadsafe``, so the loop
keeps serving other tasks meanwhile. Cancelling the awaiting task sets the
query's ``CancelToken``: the Rust engine polls it in every long loop (and
before each predicate call) and stops promptly. On the pure-Python backend the
query runs to completion in its worker and its result is dropped.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from . import _core

__all__ = ["AsyncQueries", "run_async"]

T = TypeVar("T")
NodeId = Any

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The shared worker pool (created on first use; threads named ``gli-async``)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(4, 2 * (os.cpu_count() or 1)), thread_name_prefix="gli-async"
            )
        return _executor


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():  # cancelled meanwhile
        return
    if isinstance(error, StopIteration):
        # A future refuses StopIteration (the awaiting task would never
        # resume): it arrives as a RuntimeError caused by it, as from a
        # generator (PEP 479).
        wrapped = RuntimeError(f"the query raised StopIteration: {error!r}")
        wrapped.__cause__ = error
        error = wrapped
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


async def run_async(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Runs ``fn(*args, **kwargs)`` on a GLI worker thread under a fresh
    ``CancelToken``; cancelling the awaiting task cancels the token."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()
    token = _core.CancelToken()

    def work() -> None:
        try:
            with token:
                result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            outcome: tuple[Any, BaseException | None] = (None, e)
        else:
            outcome = (result, None)
        if token.cancelled:
            return  # the awaiting task is gone: nothing to deliver
        try:
            loop.call_soon_threadsafe(_settle, fut, *outcome)
        except RuntimeError:
            pass  # the loop was closed meanwhile

    _pool().submit(work)
    try:
        return await fut
    except asyncio.CancelledError:
        token.cancel()
        raise


class AsyncQueries:
    """Mixin: ``*_async`` forms of the long read queries and the filters."""

    __slots__ = ()

    if TYPE_CHECKING:  # the host class provides these (never defined at run time)

        def bfs(self, source: NodeId, /, depth_limit: int | None = None) -> list[NodeId]: ...  # pragma: no cover
        def k_hop(self, source: NodeId, /, k: int) -> list[NodeId]: ...  # pragma: no cover
        def shortest_path(self, source: NodeId, target: NodeId, /, weight: str | None = None) -> list[NodeId]: ...  # pragma: no cover
        def shortest_path_lengths(self, source: NodeId, /, weight: str | None = None) -> dict[NodeId, Any]: ...  # pragma: no cover
        def connected_components(self) -> list[list[NodeId]]: ...  # pragma: no cover
        def pagerank(
            self, alpha: float = 0.85, max_iter: int = 100, tol: float = 1e-6, weight: str | None = None
        ) -> dict[NodeId, float]: ...  # pragma: no cover
        def filter_nodes(
            self,
            predicate: Callable[..., Any] | None = None,
            *,
            where: dict[str, Any] | None = None,
            batch_size: int | None = None,
            vectorized: bool = False,
        ) -> list[NodeId]: ...  # pragma: no cover
        def filter_edges(
            self,
            predicate: Callable[..., Any] | None = None,
            *,
            where: dict[str, Any] | None = None,
            batch_size: int | None = None,
        ) -> list[tuple[NodeId, NodeId]]: ...  # pragma: no cover

    async def bfs_async(self, source: NodeId, /, depth_limit: int | None = None) -> list[NodeId]:
        """``bfs`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.bfs, source, depth_limit)

    async def k_hop_async(self, source: NodeId, /, k: int) -> list[NodeId]:
        """``k_hop`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.k_hop, source, k)

    async def shortest_path_async(
        self, source: NodeId, target: NodeId, /, weight: str | None = None
    ) -> list[NodeId]:
        """``shortest_path`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.shortest_path, source, target, weight)

    async def shortest_path_lengths_async(
        self, source: NodeId, /, weight: str | None = None
    ) -> dict[NodeId, Any]:
        """``shortest_path_lengths`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.shortest_path_lengths, source, weight)

    async def connected_components_async(self) -> list[list[NodeId]]:
        """``connected_components`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.connected_components)

    async def pagerank_async(
        self, alpha: float = 0.85, max_iter: int = 100, tol: float = 1e-6, weight: str | None = None
    ) -> dict[NodeId, float]:
        """``pagerank`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.pagerank, alpha, max_iter, tol, weight)

    async def filter_nodes_async(
        self,
        predicate: Callable[..., Any] | None = None,
        *,
        where: dict[str, Any] | None = None,
        batch_size: int | None = None,
        vectorized: bool = False,
    ) -> list[NodeId]:
        """``filter_nodes`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(
            self.filter_nodes, predicate, where=where, batch_size=batch_size, vectorized=vectorized
        )

    async def filter_edges_async(
        self,
        predicate: Callable[..., Any] | None = None,
        *,
        where: dict[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> list[tuple[NodeId, NodeId]]:
        """``filter_edges`` on a worker thread, awaitable; cancelling the task stops the query."""
        return await run_async(self.filter_edges, predicate, where=where, batch_size=batch_size)

