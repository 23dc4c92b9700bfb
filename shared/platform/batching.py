"""Micro-batching of concurrent handlers' writes: one database round trip for many messages.

RabbitMQ hands a consumer up to `prefetch` messages at once and each runs as its own task.
Each task submits its item and awaits its own result; the batcher flushes when `size` items
wait or `wait_s` has passed since the first one. Every message is still acked by its own
handler after its own result, so acknowledgement stays per message and explicit.

A batch whose flush fails for a reason other than an outage is flushed again item by item: one
bad item must not fail its neighbours, which would be requeued toward their delivery limit.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from .messaging import is_transient

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]], size: int = 64, wait_s: float = 0.005,
                 transient: Callable[[BaseException], bool] = is_transient):  # fmt: skip
        self._flush = flush
        self._transient = transient
        self._size = size
        self._wait_s = wait_s
        self._pending: list[tuple[T, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    async def submit(self, item: T) -> R:
        """The result for this item; the batch's exception if its flush failed."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._size:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._wait_s, self._start_flush)
        return await future

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except BaseException as exc:  # each submitter decides (retry, reject): none is lost here
            if len(batch) > 1 and isinstance(exc, Exception) and not self._transient(exc):
                # Flushes are idempotent, so what part of the batch was written is written again.
                await asyncio.gather(*(self._run([entry]) for entry in batch))
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
