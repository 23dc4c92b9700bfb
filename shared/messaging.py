"""RabbitMQ plumbing shared by the services: topology, confirmed publishing, dead letters.

Every consumer queue is a durable quorum queue bound to `humas.events`. A message the
service must never act on (bad input) is copied to `humas.dead-letter` with the reason in
a header and then acked. A message whose handling keeps failing for an unexpected reason
is dead-lettered by RabbitMQ itself after `x-delivery-limit` attempts, into the same queue.
"""

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from . import contract
from .events import CloudEvent, typed_envelope

log = logging.getLogger(__name__)

EVENTS = RabbitExchange(contract.EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTERS = RabbitExchange(contract.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def consumer_queue(name: str, routing_key: str, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-dead-letter-exchange": contract.DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": delivery_limit,
        },
    )


def consumes(routing_key: str) -> str:
    """AsyncAPI description of a consumer (its handler takes raw bytes, so says it in words)."""
    return (
        f"Consumes `{contract.TYPE_BY_ROUTING_KEY[routing_key]}` CloudEvents (schema: shared/CONTRACT.md §3). "
        f"Bad input is never acted on: it goes to `{contract.DEAD_LETTER_EXCHANGE}` with the reason in the "
        f"`{contract.REASON_HEADER}` header. Unexpected errors are retried up to the queue's delivery limit."
    )


def dead_letter_queue_name(queue_name: str) -> str:
    return f"{queue_name}.dead-letter"


async def declare_dead_letter_queue(broker: RabbitBroker, queue_name: str) -> None:
    exchange = await broker.declare_exchange(DEAD_LETTERS)
    # Classic, not quorum: a quorum queue has a delivery limit (default 20 on RabbitMQ 4.x) and
    # operators browsing dead letters return them to the queue each time; on 4.0-4.2 every return
    # counts, so a dead letter looked at 20 times would be dropped. Durable + persistent suffices.
    dlq = await broker.declare_queue(
        RabbitQueue(dead_letter_queue_name(queue_name), queue_type=QueueType.CLASSIC, durable=True)
    )
    await dlq.bind(exchange, routing_key=queue_name)


async def raw_body(message: RabbitMessage) -> bytes:
    """Decoder that hands the handler the untouched bytes: we judge them ourselves."""
    return message.body


class Publisher(Protocol):
    async def publish(self, routing_key: str, event: CloudEvent) -> None: ...


class RabbitPublisher:
    """Persistent (FastStream's default is transient), mandatory, confirmed publishes.

    One FastStream publisher per event a service emits, so its AsyncAPI document shows
    exactly what it sends; `publish` returns once the broker has confirmed the message.
    """

    def __init__(self, broker: RabbitBroker, metrics=None):
        self._broker = broker
        self._metrics = metrics
        self._publishers: dict[str, Any] = {}

    def declare(self, routing_key: str, description: str) -> None:
        self._publishers[routing_key] = self._broker.publisher(
            exchange=EVENTS,  # by keyword: the first positional parameter is a queue
            routing_key=routing_key,
            persist=True,
            mandatory=True,
            content_type=contract.CONTENT_TYPE,
            schema=typed_envelope(routing_key),
            title=f"{routing_key}:publish",
            description=description,
        )

    async def publish(self, routing_key: str, event: CloudEvent) -> None:
        await self._publishers[routing_key].publish(
            event.to_json(), message_id=event.id, message_type=event.type, timestamp=event.time
        )
        if self._metrics:
            self._metrics.published.labels(self._metrics.service, routing_key).inc()


class DeadLetters:
    """Sets aside a message the service rejects, with the reason, before it is acked."""

    def __init__(self, broker: RabbitBroker, service: str, metrics=None):
        self._broker = broker
        self._service = service
        self._metrics = metrics

    async def reject(self, message: RabbitMessage, queue_name: str, reason: str) -> None:
        raw = message.raw_message
        headers = dict(raw.headers or {})
        headers.update(
            {
                contract.REASON_HEADER: reason[:1000],
                "x-rejected-by": self._service,
                "x-rejected-at": dt.datetime.now(dt.UTC).isoformat(),
                "x-original-exchange": raw.exchange or "",
                "x-original-routing-key": raw.routing_key or "",
            }
        )
        await self._broker.publish(
            message.body,
            exchange=DEAD_LETTERS,
            routing_key=queue_name,
            persist=True,
            mandatory=True,
            headers=headers,
            content_type=raw.content_type,
            message_id=raw.message_id,
        )
        log.info("dead-lettered a message from %s: %s", queue_name, reason[:200])
        if self._metrics:
            self._metrics.dead_lettered(queue_name)


def is_transient(exc: BaseException) -> bool:
    """Errors that mean a dependency is down, not that the message is bad."""
    from minio.error import MinioException, ServerError
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError, WTimeoutError
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError, WTimeoutError)):
        return True
    if isinstance(exc, (ServerError, Urllib3Error, ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, MinioException) and "503" in str(exc)


async def retry_transient(
    work: Callable[[], Awaitable[Any]], *, first_delay: float = 0.2, max_delay: float = 10.0,
    give_up_after: float | None = None,
) -> Any:
    """Run `work`, retrying with back-off for as long as a dependency is unreachable.

    The message stays unacked meanwhile, so a good message is never dead-lettered because
    the database or object store was down. Other errors propagate to the ack policy.
    """
    delay = first_delay
    deadline = None if give_up_after is None else asyncio.get_running_loop().time() + give_up_after
    while True:
        try:
            return await work()
        except Exception as exc:
            if not is_transient(exc) or (deadline is not None and asyncio.get_running_loop().time() > deadline):
                raise
            log.warning("dependency unavailable, retrying in %.1fs: %s: %.200s", delay, type(exc).__name__, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
