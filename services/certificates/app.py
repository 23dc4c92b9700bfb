"""Wires the certificate service: settings → runtime → subscription → HTTP app."""

from fastapi import FastAPI

from shared import contract
from shared.contract.events import CloudEvent, CompletedData
from shared.platform.messaging import Refused, retry_transient
from shared.platform.runtime import Runtime, serve
from shared.platform.settings import names

from . import handlers
from .bootstrap import Ports, bootstrap, parts
from .credential_web import credential_router
from .domain import Certificate, completion_problem
from .operator_api import operator_router
from .settings import Settings
from .web import SignatureChecks, public_router

SERVICE = "certificates"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt: Runtime[Ports] = Runtime(SERVICE, settings)
    rt.publisher.declare(contract.CERTIFICATE_ISSUED, "A certificate was issued: where to fetch and verify it.")
    rt.publisher.declare(contract.CERTIFICATE_REVOKED, "An operator revoked a certificate (with the reason).")
    made = parts(settings, rt.metrics)
    rt.checks["object_store"] = made.store.ping

    async def publish(cert: Certificate, routing_key: str, event: CloudEvent) -> None:
        """Right after the write that stored it: publish its outbox entry (the relay covers a crash)."""
        await retry_transient(lambda: rt.ports().outbox.publish_stored(cert.certificate_id, routing_key, event))

    # Only the attendance service's completions (and operator replays) are believed (decision 9).
    @rt.consume(contract.COMPLETED, CompletedData, publishers=names(settings.completed_publishers))
    async def on_completed(_: CloudEvent, data: CompletedData) -> None:
        program = rt.programs.get(data.program_id)
        if problem := completion_problem(data, program):
            raise Refused(problem)
        cert, issued = await handlers.issue_certificate(data, program, rt.ports().issuing)
        if issued:
            rt.metrics.certificates.labels(SERVICE).inc()
            await publish(cert, contract.CERTIFICATE_ISSUED, issued)
        else:  # a redelivery: publish whatever an earlier attempt left pending
            await retry_transient(lambda: rt.ports().outbox.flush(cert.certificate_id))

    def background(ports: Ports):
        return (ports.outbox.relay(settings.outbox_interval_s),)

    app = rt.http_app("Humas certificate service", rt.lifespan(lambda: bootstrap(rt, settings, made), background))
    app.include_router(public_router(rt.programs, made.links, settings.public_rate_limit, rt.ports,
                                     SignatureChecks(made.signer) if made.signer else None,
                                     with_credentials=made.credential_keys is not None))  # fmt: skip
    if made.credential_keys is not None:
        app.include_router(credential_router(made.links, made.credential_keys, settings.public_rate_limit, rt.ports,
                                             known_program=rt.programs.__contains__))  # fmt: skip
    app.include_router(operator_router(rt.programs, rt.operator, rt.ports, publish))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
