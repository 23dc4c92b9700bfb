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
from urllib.parse import unquote, urlsplit

from aiormq.abc import DeliveredMessage
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from .. import contract
from ..contract.events import CloudEvent, typed_envelope
from ..contract.nip import mask_nips
from .logs import describe

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
        f"Consumes `{contract.TYPE_BY_ROUTING_KEY[routing_key]}` CloudEvents (schema: docs/contract.md §3). "
        f"Bad input is never acted on: it goes to `{contract.DEAD_LETTER_EXCHANGE}` with the reason in the "
        f"`{contract.REASON_HEADER}` header. Unexpected errors are retried up to the queue's delivery limit."
    )


BROKER_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-")


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


def announcement_log_name(service: str) -> str:
    return f"{service}.announced"


async def declare_announcement_log(broker: RabbitBroker, service: str, routing_keys: tuple[str, ...]) -> None:
    """The producer's own stream of the events it announces and none of our services consumes
    (contract.ANNOUNCED): every such publish is routed, so the outbox can tell a real loss (no queue
    at all) from "no subscriber yet", and a subscriber who binds late can read the year's history
    (a stream keeps its messages after they are read)."""
    if not routing_keys:
        return
    exchange = await broker.declare_exchange(EVENTS)
    log_queue = await broker.declare_queue(
        RabbitQueue(
            announcement_log_name(service),
            queue_type=QueueType.STREAM,
            durable=True,
            arguments={"x-max-age": "400D", "x-max-length-bytes": 2_000_000_000},
        )
    )
    for key in routing_keys:
        await log_queue.bind(exchange, routing_key=key)


async def raw_body(message: RabbitMessage) -> bytes:
    """Decoder that hands the handler the untouched bytes: we judge them ourselves."""
    return message.body


def amqp_user(amqp_url: str) -> str:
    """The login of an AMQP URL (RabbitMQ's default `guest` when it names none)."""
    return unquote(urlsplit(amqp_url).username or "") or "guest"


class Refused(Exception):
    """A well-formed event this service must not act on: dead-lettered with `reason`, then acked."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Unroutable(Exception):
    """The broker returned a mandatory publish: no queue is bound for its routing key, so nobody got it."""


def _delivered(result: object, routing_key: str) -> None:
    # A returned mandatory message is still acked by the broker afterwards; aio-pika then hands back
    # the returned message instead of raising, which would count as "published" without this.
    if isinstance(result, DeliveredMessage):
        raise Unroutable(f"no queue bound for routing key {routing_key!r}; the message was returned")


class Publisher(Protocol):
    async def publish(self, routing_key: str, event: CloudEvent) -> None: ...


class RabbitPublisher:
    """Persistent (FastStream's default is transient), mandatory, confirmed publishes.

    One FastStream publisher per event a service emits, so its AsyncAPI document shows
    exactly what it sends; `publish` returns once the broker has confirmed the message, and
    raises `Unroutable` if it was returned instead.

    Every message carries the AMQP `user_id` of the connection's login: RabbitMQ refuses a
    user_id other than the connection's, so consumers can tell who really published an event.
    """

    def __init__(self, broker: RabbitBroker, metrics=None, user_id: str | None = None):
        self._broker = broker
        self._metrics = metrics
        self._user_id = user_id
        self._publishers: dict[str, Any] = {}

    def declare(self, routing_key: str, description: str) -> None:
        self._publishers[routing_key] = self._broker.publisher(
            exchange=EVENTS,  # by keyword: the first positional parameter is a queue
            routing_key=routing_key,
            persist=True,
            mandatory=True,
            content_type=contract.CONTENT_TYPE,
            user_id=self._user_id,
            schema=typed_envelope(routing_key),
            title=f"{routing_key}:publish",
            description=description,
        )

    async def publish(self, routing_key: str, event: CloudEvent) -> None:
        result = await self._publishers[routing_key].publish(
            event.to_json(), message_id=event.id, message_type=event.type, timestamp=event.time
        )
        _delivered(result, routing_key)
        if self._metrics:
            self._metrics.published.labels(self._metrics.service, routing_key).inc()


class DeadLetters:
    """Sets aside a message the service rejects, with the reason, before it is acked."""

    def __init__(self, broker: RabbitBroker, service: str, metrics=None, user_id: str | None = None):
        self._broker = broker
        self._service = service
        self._metrics = metrics
        self._user_id = user_id

    async def reject(self, message: RabbitMessage, queue_name: str, reason: str) -> None:
        raw = message.raw_message
        # The broker's own dead-lettering bookkeeping is dropped: on our copy it could only be a
        # publisher's forgery, and ops.deadletters tells our copies from the broker's by it.
        headers = {k: v for k, v in (raw.headers or {}).items() if not k.startswith(BROKER_DEATH_HEADERS)}
        headers.update(
            {
                contract.REASON_HEADER: reason[:1000],
                "x-rejected-by": self._service,
                "x-rejected-at": dt.datetime.now(dt.UTC).isoformat(),
                "x-original-exchange": raw.exchange or "",
                "x-original-routing-key": raw.routing_key or "",
                # Who published the original (the broker vouched for it); this copy is ours.
                "x-original-user-id": raw.user_id or "",
            }
        )
        result = await self._broker.publish(
            message.body,
            exchange=DEAD_LETTERS,
            routing_key=queue_name,
            persist=True,
            mandatory=True,
            headers=headers,
            content_type=raw.content_type,
            message_id=raw.message_id,
            user_id=self._user_id,
        )
        _delivered(result, queue_name)
        # A reason may quote the NIP: masked.
        log.info("dead-lettered a message from %s: %s", queue_name, mask_nips(reason[:200]))
        if self._metrics:
            self._metrics.dead_lettered(queue_name)


# Kinds of dependency failure a service adds for its own adapters (the certificate service's
# object store: services/certificates/storage.py). Each says what an exception is, or None.
_classifiers: list[Callable[[BaseException], str | None]] = []


def classify_failures(classifier: Callable[[BaseException], str | None]) -> Callable[[BaseException], str | None]:
    """Register `classifier` with `dependency_error` (a decorator, applied where the adapter is defined)."""
    _classifiers.append(classifier)
    return classifier


def dependency_error(exc: BaseException) -> str | None:
    """What kind of dependency failure `exc` is (`credentials`, `server`, `connection`), or None
    when it is not one (then it is about the message or a bug)."""
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError, WTimeoutError
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError, WTimeoutError)):
        return "connection"
    if isinstance(exc, (Urllib3Error, ConnectionError, TimeoutError)):
        return "connection"
    return next((kind for classify in _classifiers if (kind := classify(exc))), None)


def is_transient(exc: BaseException) -> bool:
    """Errors that mean a dependency is down or misconfigured, not that the message is bad."""
    return dependency_error(exc) is not None


async def retry_transient(
    work: Callable[[], Awaitable[Any]],
    *,
    first_delay: float = 0.2,
    max_delay: float = 10.0,
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
            # The exception text may quote a document key (program:NIP): masked.
            if dependency_error(exc) == "credentials":
                log.error("a dependency refuses our credentials (check the configured keys), retrying in %.1fs: %s",
                          delay, describe(exc))  # fmt: skip
            else:
                log.warning("dependency unavailable, retrying in %.1fs: %s", delay, describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
