"""What every service process has: a broker, a MongoDB client, health endpoints.

Nothing connects at import or construction time: `Runtime.lifespan` connects, in the HTTP app's lifespan.
"""

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.schemas import Channel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .. import contract
from ..contract.events import InvalidEvent, decode, event_identity
from ..contract.programs import Programs
from . import logs
from .auth import OperatorKeys, operator_dependency
from .http import HeadAsGet, add_security_headers
from .inflight import InFlight
from .messaging import (
    EVENTS,
    DeadLetters,
    RabbitPublisher,
    Refused,
    amqp_user,
    consumer_queue,
    consumes,
    declare_announcement_log,
    declare_dead_letter_queue,
    raw_body,
    retry_transient,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .settings import ServiceSettings

Check = Callable[[], Awaitable[object]]
P = TypeVar("P")  # a service's Ports: its adapters, built once in the lifespan
Handler = Callable[..., Awaitable[None]]  # (envelope, data) of one accepted event


class Runtime(Generic[P]):
    def __init__(self, service: str, settings: ServiceSettings):
        self.service = service
        self.settings = settings
        self.programs = Programs.load(settings.programs_dir)
        self.log = logs.configure(service, settings.log_level)
        self.broker = RabbitBroker(
            settings.amqp_url,
            logger=logging.getLogger("faststream"),  # through our JSON handler
            default_channel=Channel(prefetch_count=settings.prefetch),
            graceful_timeout=30.0,
            log_level=logging.DEBUG,  # FastStream's per-message "Received/Processed" lines: debug only
        )
        self.metrics = Metrics(service)
        self.in_flight = InFlight()  # handlers between entry and ack (shared/platform/inflight.py)
        self.user = amqp_user(settings.amqp_url)
        self.publisher = RabbitPublisher(self.broker, self.metrics, user_id=self.user)
        self.dead_letters = DeadLetters(self.broker, service, self.metrics, user_id=self.user)
        self.queues: list[str] = []
        self.inputs: dict[str, RabbitQueue] = {}  # routing key -> the queue this service consumes it from
        self._ports: P | None = None
        self.mongo: AsyncMongoClient | None = None
        self.checks: dict[str, Check] = {"broker": self._broker_ok, "database": self._database_ok}
        self._tasks: list[asyncio.Task] = []
        self._on_stop: list[Callable[[], Awaitable[object]]] = []
        self.ready = False
        # FastAPI dependency for operator routes: the caller's name, or 401.
        self.operator = operator_dependency(OperatorKeys.parse(settings.operator_api_keys, settings.operator_delegates))

    def queue_name(self, routing_key: str) -> str:
        name = f"{self.service}.{routing_key}"
        self.queues.append(name)
        return name

    def ports(self) -> P:
        """The service's adapters, once the lifespan has built them (connections are made there,
        never at import or construction). Subscribers call it; router factories are handed the method itself."""
        if self._ports is None:
            raise RuntimeError("the service has not started: its ports are built in the lifespan")
        return self._ports

    def consume(self, routing_key: str, data_type: type, *, publishers: frozenset[str] | None = None):
        """One subscription as one declaration, over `async def handler(envelope, data)`.

        It declares the quorum queue (dead-lettering, delivery limit) and the manual ack, settled
        after the handler's effects (`settling`); it decodes and checks the event (`accept`: bad
        input is dead-lettered with its reason, the handler never sees it); it waits out transient
        outages in place (`retry_transient`), so the handler must be idempotent, as redelivery
        needs anyway. A handler raises `Refused(reason)` for a well-formed event it must not act on.
        `publishers`: the AMQP logins trusted to produce this event (see `accept`)."""
        queue = consumer_queue(self.queue_name(routing_key), routing_key, self.settings.delivery_limit)
        self.inputs[routing_key] = queue
        accepted = {contract.TYPE_BY_ROUTING_KEY[routing_key]: data_type}

        def declare(handler: Handler) -> Handler:
            async def subscriber(body: bytes) -> None:
                async with self.settling(queue.name) as message:
                    if not (decoded := await self.accept(body, message, queue.name, accepted, publishers)):
                        return
                    try:
                        await retry_transient(lambda: handler(*decoded))
                    except Refused as e:
                        await self.dead_letters.reject(message, queue.name, e.reason)

            # Not functools.wraps: FastStream reads the signature (raw bytes) and, from the name,
            # the AsyncAPI channel title (OnAttended...), which docs/asyncapi keeps.
            subscriber.__name__ = subscriber.__qualname__ = handler.__name__
            self.broker.subscriber(queue, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body,
                                   description=consumes(routing_key))(subscriber)  # fmt: skip
            return handler

        return declare

    def lifespan(
        self, bootstrap: Callable[[], Awaitable[P]], background: Callable[[P], Iterable[Awaitable[None]]] = lambda _: ()
    ):
        """The FastAPI lifespan: build the ports (`bootstrap` connects, waits for its dependencies
        and prepares indexes), start consuming, then the background jobs (outbox relay, sweep)."""

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI):
            self._ports = await bootstrap()
            await self.start_consuming()
            for job in background(self._ports):
                self.spawn(job)
            yield
            await self.stop()

        return lifespan

    @property
    def db(self) -> AsyncDatabase:
        assert self.mongo is not None, "connect_database() has not run (it runs in the lifespan)"
        return self.mongo[self.settings.mongodb_database]

    async def connect_database(self) -> AsyncDatabase:
        self.mongo = AsyncMongoClient(
            self.settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000, w="majority"
        )
        return self.db

    async def start_consuming(self) -> None:
        await self.broker.connect()
        for name in self.queues:
            await declare_dead_letter_queue(self.broker, name)
        await declare_announcement_log(self.broker, self.service, contract.ANNOUNCED.get(self.service, ()))
        await self.broker.start()
        self.ready = True
        self.log.info("started", queues=self.queues)

    async def waiting(self, *queues: RabbitQueue) -> int:
        """Messages ready in these queues and not yet delivered to any consumer: the broker's own
        count, the same for every replica. Each queue is declared again exactly as its subscriber
        declared it (what a reconnect does too), which changes nothing and returns the count."""
        total = 0
        for queue in queues:
            declared = await self.broker.declare_queue(queue)
            total += (await declared.declare()).message_count or 0
        return total

    @contextlib.asynccontextmanager
    async def settling(self, queue: str):
        """The message being handled, acknowledged manually: ack once the handler's effects are
        written; if it raises, reject *with requeue* and let the error propagate.

        The message comes from FastStream's context, not from a `message: RabbitMessage`
        parameter: FastDepends resolves such a parameter in a worker thread, one thread hop per
        message: a third of the attendance service's CPU (docs/performance.md, item 13).

        Why reject and not nack: on RabbitMQ 4.3+ a requeued `basic.nack` no longer counts toward a
        quorum queue's `x-delivery-limit` (only `basic.reject` does), so a poison message nacked
        forever would never reach the dead-letter queue. On 3.x and 4.0-4.2 both count, so reject
        is right everywhere. Transient outages never get here: handlers wait them out in-process.
        A cancelled handler (shutdown) is neither acked nor rejected: the closing channel returns it.
        """
        if (message := self.broker.context.get_local("message")) is None:
            raise RuntimeError("settling() runs inside a subscriber, while it handles a message")
        token = self.in_flight.enter()
        try:
            async with self.metrics.consuming(queue):
                try:
                    yield message
                except Exception:
                    await message.reject(requeue=True)
                    raise
            await message.ack()
        finally:
            self.in_flight.leave(token)

    async def accept(self, body: bytes, message, queue: str, accepted: dict, publishers: frozenset[str] | None = None):
        """The decoded (envelope, data), or None once a bad message is set aside with its reason.

        `publishers`: the logins trusted to produce what this queue receives (None: the broker's topic
        permissions are the control, as for upstream events, which carry no user_id). The AMQP
        user_id is checked, not anything in the body: RabbitMQ guarantees it is the publisher's login.
        """
        if publishers is not None and (user := message.raw_message.user_id) not in publishers:
            logs.bind_event(event_identity(body), "unknown")
            who = f"user_id {user!r}" if user else "no user_id"
            await self.dead_letters.reject(message, queue, f"{contract.UNTRUSTED_PUBLISHER}: {who}")
            return None
        try:
            envelope, data = decode(
                body, accepted, self.programs, max_skew=dt.timedelta(seconds=self.settings.max_clock_skew_s)
            )
            logs.bind_event(envelope.id, envelope.source)
            return envelope, data
        except InvalidEvent as e:
            logs.bind_event(event_identity(body), "unknown")
            await self.dead_letters.reject(message, queue, str(e))
            return None

    def http_app(self, title: str, lifespan) -> FastAPI:
        app = FastAPI(title=title, lifespan=lifespan)
        add_security_headers(app)
        app.add_middleware(HeadAsGet)
        app.include_router(self.health_router())
        app.state.runtime = self
        return app

    def spawn(self, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    def on_stop(self, close: Callable[[], Awaitable[object]]) -> None:
        """Something the service started in its bootstrap (a worker pool) to close once the
        handlers are done."""
        self._on_stop.append(close)

    async def stop(self) -> None:
        self.ready = False
        # Stop consuming first: in-flight handlers finish (graceful_timeout), then the rest closes.
        await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for close in self._on_stop:
            await close()
        if self.mongo is not None:
            await self.mongo.close()
        self.log.info("stopped")

    async def _broker_ok(self) -> bool:
        return await self.broker.ping(timeout=2.0)

    async def _database_ok(self) -> bool:
        await self.db.command("ping")
        return True

    def health_router(self) -> APIRouter:
        router = APIRouter(tags=["health"])

        @router.get("/healthz")
        async def healthz() -> dict:
            return {"status": "alive", "service": self.service}

        @router.get("/metrics", tags=["health"], summary="Prometheus metrics")
        async def metrics() -> Response:
            return Response(self.metrics.render(), media_type=METRICS_CONTENT_TYPE)

        @router.get("/asyncapi.json", tags=["docs"], summary="This service's AsyncAPI document")
        async def asyncapi() -> dict:
            return asyncapi_document(self)

        @router.get("/readyz")
        async def readyz() -> JSONResponse:
            results: dict[str, str] = {}
            for name, check in self.checks.items():
                try:
                    ok = await asyncio.wait_for(check(), timeout=3.0)
                    results[name] = "ok" if ok is not False else "unavailable"
                except Exception as exc:
                    results[name] = f"unavailable: {type(exc).__name__}"
            ready = self.ready and all(v == "ok" for v in results.values())
            body = {"status": "ready" if ready else "not ready", "service": self.service, "checks": results}
            return JSONResponse(body, status_code=200 if ready else 503)

        return router


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    # Behind the gateway, the client address comes from X-Forwarded-For (rate limits need it).
    # log_config=None: uvicorn's error lines (a 500's traceback) go through our JSON handler, NIPs masked.
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False, log_config=None,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)  # fmt: skip


def asyncapi_document(runtime: "Runtime") -> dict:
    """Generated from the code: the queues it consumes, the events it publishes, their schemas."""
    from faststream.specification import AsyncAPI

    spec = AsyncAPI(
        runtime.broker,
        title=f"Humas Level Up: {runtime.service} service",
        version="1",
        description="Events on the `humas.events` topic exchange, CloudEvents 1.0 structured JSON. "
        "Public contract: docs/contract.md.",
    )
    document = spec.to_specification().to_jsonable()
    document["servers"] = {"broker": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}}
    for channel in document.get("channels", {}).values():
        channel["servers"] = [{"$ref": "#/servers/broker"}]
    return document
