"""Publishes events exactly as an upstream system would: aio-pika, persistent, confirmed."""

import asyncio
import datetime as dt
import json
import uuid

import aio_pika
import aiormq

from shared import contract
from shared.platform.messaging import amqp_user

CONNECTION_ERRORS = (
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.AMQPConnectionError,
    ConnectionError,
    RuntimeError,  # aio-pika raises RuntimeError "closed" mid-reconnect
)


def cloud_event(routing_key: str, data: dict, *, source: str = "/mooc-pintar", time: dt.datetime | None = None,
                id: str | None = None) -> dict:  # fmt: skip
    return {
        "specversion": "1.0",
        "id": id or str(uuid.uuid4()),
        "source": source,
        "type": contract.TYPE_BY_ROUTING_KEY[routing_key],
        "time": (time or dt.datetime.now(dt.UTC)).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


class Upstream:
    def __init__(self, amqp_url: str):
        self._url = amqp_url
        self.user = amqp_user(amqp_url)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None

    async def __aenter__(self) -> "Upstream":
        self.connection = await aio_pika.connect_robust(self._url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        try:  # passively: an upstream login may not declare (nor so delete or retype) the exchange
            self.exchange = await self.channel.get_exchange(contract.EXCHANGE, ensure=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:  # a fresh broker with no service started yet
            self.channel = await self.connection.channel(publisher_confirms=True)
            self.exchange = await self.channel.declare_exchange(contract.EXCHANGE, aio_pika.ExchangeType.TOPIC,
                                                                durable=True)  # fmt: skip
        return self

    async def __aexit__(self, *exc) -> None:
        await self.connection.close()

    async def publish(self, routing_key: str, event: dict | bytes, content_type: str = contract.CONTENT_TYPE,
                      retry_for: float = 120.0) -> None:  # fmt: skip
        """Confirmed publish; while the broker is unreachable, retry like a well-behaved upstream
        (a retried event may arrive twice: consumers dedupe on its id)."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        # user_id: the login, which the broker checks; consumers of `completed` believe only theirs.
        message = aio_pika.Message(body, content_type=content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                   user_id=self.user)  # fmt: skip
        deadline = asyncio.get_running_loop().time() + retry_for
        while True:
            try:
                await self.exchange.publish(message, routing_key=routing_key)
                return
            except CONNECTION_ERRORS:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def publish_many(self, events, window: int = 256, progress=None) -> int:
        """Publish with up to `window` confirms outstanding: a bulk upstream, still confirmed."""
        pending: set[asyncio.Future] = set()
        sent = 0
        for routing_key, event in events:
            pending.add(asyncio.ensure_future(self.publish(routing_key, event)))
            if len(pending) >= window:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    future.result()
                sent += len(done)
                if progress:
                    progress(len(done))
        for future in asyncio.as_completed(pending):
            await future
            sent += 1
            if progress:
                progress(1)
        return sent

    async def listen(self, routing_key: str, durable: bool = False) -> aio_pika.abc.AbstractQueue:
        """A queue that sees every event with this routing key from now on.

        Exclusive by default; `durable` keeps it (and what it holds) across a broker restart.
        """
        if durable:
            name = f"listen.{routing_key}.{uuid.uuid4().hex[:8]}"
            queue = await self.channel.declare_queue(name, durable=True)
        else:
            queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self.exchange, routing_key=routing_key)
        return queue
