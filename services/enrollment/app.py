"""Wires the enrollment service: settings → runtime → subscribers → HTTP app."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream import AckPolicy

from shared import contract
from shared.events import EnrolledData, WithdrawnData
from shared.messaging import EVENTS, consumer_queue, consumes, raw_body, retry_transient
from shared.programs import Programs
from shared.runtime import Runtime, serve
from shared.settings import ServiceSettings

from . import handlers
from .api import roster_router
from .repository import MongoRoster

SERVICE = "enrollment"


class Settings(ServiceSettings):
    mongodb_database: str = "enrollment"
    http_port: int = 8001


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt = Runtime(SERVICE, settings)
    programs = Programs.load(settings.programs_dir)
    rt.publisher.declare(contract.ENROLLED, "Roster imports and operator edits, as upstream would send them.")
    rt.publisher.declare(contract.WITHDRAWN, "An operator withdrew a participant (our addition to the contract).")
    accepted = {contract.TYPE_BY_ROUTING_KEY[contract.ENROLLED]: EnrolledData}
    withdrawals = {contract.TYPE_BY_ROUTING_KEY[contract.WITHDRAWN]: WithdrawnData}
    state: dict = {"publisher": rt.publisher}
    queue = consumer_queue(rt.queue_name(contract.ENROLLED), contract.ENROLLED, settings.delivery_limit)
    withdrawn_q = consumer_queue(rt.queue_name(contract.WITHDRAWN), contract.WITHDRAWN, settings.delivery_limit)

    @rt.broker.subscriber(queue, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.ENROLLED))
    async def on_enrolled(body: bytes) -> None:
        async with rt.settling(queue.name) as message:
            if not (decoded := await rt.accept(body, message, queue.name, accepted, programs)):
                return
            envelope, data = decoded
            await retry_transient(lambda: handlers.enrol(envelope, data, state["roster"]))

    @rt.broker.subscriber(withdrawn_q, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.WITHDRAWN))
    async def on_withdrawn(body: bytes) -> None:
        async with rt.settling(withdrawn_q.name) as message:
            if not (decoded := await rt.accept(body, message, withdrawn_q.name, withdrawals, programs)):
                return
            _, data = decoded
            await retry_transient(lambda: handlers.record_withdrawal(data, state["roster"]))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["roster"] = roster = MongoRoster(await rt.connect_database())
        await retry_transient(roster.ensure_indexes, give_up_after=settings.startup_timeout_s)
        await rt.start_consuming()
        yield
        await rt.stop()

    app = rt.http_app("Humas enrollment service", lifespan)
    app.include_router(roster_router(programs, rt.operator, state))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
