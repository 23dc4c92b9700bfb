"""Wires the attendance service: settings → runtime → subscriptions → HTTP app."""

from fastapi import FastAPI

from shared import contract
from shared.contract.events import AttendedData, CloudEvent, EnrolledData, WithdrawnData
from shared.contract.participant import participant_key
from shared.platform.messaging import retry_transient
from shared.platform.runtime import Runtime, serve

from . import handlers
from .api import attendance_router
from .bootstrap import Ports, bootstrap
from .settings import Settings
from .sweep import Sweep

SERVICE = "attendance"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt: Runtime[Ports] = Runtime(SERVICE, settings)
    rt.publisher.declare(
        contract.COMPLETED, "A participant completed the program: published once per (program_id, nip)."
    )

    async def publish_completed(completed: CloudEvent | None, data) -> None:
        """Right after the write that stored it: publish its outbox entry (the relay covers a crash)."""
        if completed:
            key = participant_key(data.program_id, data.nip)
            await retry_transient(lambda: rt.ports().outbox.publish_stored(key, contract.COMPLETED, completed))

    @rt.consume(contract.ENROLLED, EnrolledData)
    async def on_enrolled(envelope: CloudEvent, data: EnrolledData) -> None:
        program = rt.programs.get(data.program_id)
        await publish_completed(await handlers.record_enrollment(envelope, data, program, rt.ports().book), data)

    @rt.consume(contract.ATTENDED, AttendedData)
    async def on_attended(_: CloudEvent, data: AttendedData) -> None:
        # Written together with the other reports in flight: one bulk write per batch.
        await publish_completed(await rt.ports().batched_reports.submit(data), data)

    @rt.consume(contract.WITHDRAWN, WithdrawnData)
    async def on_withdrawn(_: CloudEvent, data: WithdrawnData) -> None:
        await handlers.record_withdrawal(data, rt.programs.get(data.program_id), rt.ports().book)

    sweep = Sweep(rt, settings)

    async def start() -> Ports:
        ports = await bootstrap(rt, settings)
        # Known to the other replicas before this one takes anything.
        await retry_transient(lambda: ports.replicas.beat(sweep.heartbeat()), give_up_after=settings.startup_timeout_s)
        return ports

    def background(ports: Ports):
        return ports.outbox.relay(settings.outbox_interval_s), sweep.run()

    app = rt.http_app("Humas attendance service", rt.lifespan(start, background))
    app.include_router(attendance_router(rt.programs, rt.operator, rt.ports))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
