"""Helpers for tests that talk to real servers: waiting on conditions, services, the bus."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import httpx


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 20, what: str = "condition"):
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@contextlib.asynccontextmanager
async def running(app):
    """Run a service app in-process: its lifespan (broker, database) plus an HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    messages = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        messages.append(message)
    return messages


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Bus:
    """The test's own view of the broker: publish as upstream, watch events and dead letters."""

    def __init__(self, amqp_url: str):
        from devstack.upstream import Upstream

        self.upstream = Upstream(amqp_url)

    async def __aenter__(self) -> "Bus":
        await self.upstream.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.upstream.__aexit__(*exc)

    async def publish(self, routing_key: str, event, **kwargs) -> None:
        await self.upstream.publish(routing_key, event, **kwargs)

    async def watch(self, routing_key: str, durable: bool = False) -> "Watch":
        return Watch(await self.upstream.listen(routing_key, durable))

    async def dead_letters(self, queue_name: str, expected: int, timeout: float = 20) -> list:
        """Wait until `expected` messages sit in the service's dead-letter queue, and take them."""
        queue = await self.upstream.channel.get_queue(f"{queue_name}.dead-letter", ensure=True)
        taken: list = []

        async def enough():
            taken.extend(await drain(queue))
            return len(taken) >= expected

        await eventually(enough, timeout, f"{expected} dead letters in {queue_name}.dead-letter")
        return taken


class Watch:
    def __init__(self, queue):
        self.queue = queue
        self.events: list[dict] = []

    async def collect(self) -> list[dict]:
        import json

        from devstack.upstream import CONNECTION_ERRORS

        try:
            self.events.extend(json.loads(m.body) for m in await drain(self.queue))
        except CONNECTION_ERRORS:  # the broker restarts under us: the robust channel comes back
            pass
        return self.events

    async def until(self, predicate, timeout: float = 30, what: str = "events") -> list[dict]:
        async def check():
            return predicate(await self.collect())

        try:
            await eventually(check, timeout, what)
        except AssertionError as e:
            raise AssertionError(f"{e}; events seen: {[ev.get('data') for ev in self.events]}") from None
        return self.events
