"""Wires the certificate service: settings → runtime → subscriber → HTTP app."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream import AckPolicy
from faststream.rabbit.annotations import RabbitMessage

from shared import contract
from shared.contract import CERTIFICATE_ISSUED
from shared.events import CompletedData
from shared.messaging import EVENTS, consumer_queue, consumes, raw_body, retry_transient
from shared.outbox import MongoOutbox
from shared.programs import Programs
from shared.runtime import Runtime, serve
from shared.settings import S3Settings, ServiceSettings

from . import handlers
from .domain import Links
from .renderer import TypstRenderer
from .repository import MongoCertificates
from .storage import S3ObjectStore
from .web import public_router

SERVICE = "certificates"


class Settings(ServiceSettings, S3Settings):
    mongodb_database: str = "certificates"
    http_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt = Runtime(SERVICE, settings)
    rt.publisher.declare(contract.CERTIFICATE_ISSUED, "A certificate was issued: where to fetch and verify it.")
    programs = Programs.load(settings.programs_dir)
    links = Links(settings.public_base_url)
    store = S3ObjectStore(settings)
    accepted = {contract.TYPE_BY_ROUTING_KEY[contract.COMPLETED]: CompletedData}
    renderer = TypstRenderer()
    state: dict = {}
    queue = consumer_queue(rt.queue_name(contract.COMPLETED), contract.COMPLETED, settings.delivery_limit)
    rt.checks["object_store"] = store.ping

    @rt.broker.subscriber(queue, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.COMPLETED))
    async def on_completed(body: bytes, message: RabbitMessage) -> None:
        async with rt.settling(message, queue.name):
            if not (decoded := await rt.accept(body, message, queue.name, accepted, programs)):
                return
            _, data = decoded
            program = programs.get(data.program_id)
            cert, issued = await retry_transient(lambda: handlers.issue_certificate(data, program, state["issuing"]))
            if issued:
                rt.metrics.certificates.labels(SERVICE).inc()
                await retry_transient(lambda: state["outbox"].publish_stored(cert.certificate_id, CERTIFICATE_ISSUED, issued))
            else:  # a redelivery: publish whatever an earlier attempt left pending
                await retry_transient(lambda: state["outbox"].flush(cert.certificate_id))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        repo = MongoCertificates(await rt.connect_database())
        app.state.certificates = repo
        state["issuing"] = handlers.Issuing(repo, renderer, store, links)
        state["outbox"] = outbox = MongoOutbox(repo.collection, rt.publisher)
        await retry_transient(repo.ensure_indexes, give_up_after=settings.startup_timeout_s)
        await retry_transient(store.ensure_bucket, give_up_after=settings.startup_timeout_s)
        await rt.start_consuming()
        rt.spawn(outbox.relay(settings.outbox_interval_s))
        yield
        await rt.stop()

    app = rt.http_app("Humas certificate service", lifespan)
    app.state.store = store
    app.include_router(public_router(programs, links))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
