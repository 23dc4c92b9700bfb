"""Wires the enrollment service: settings → runtime → subscriptions → HTTP app."""

from fastapi import FastAPI

from shared import contract
from shared.contract.events import CloudEvent, EnrolledData, WithdrawnData
from shared.platform.runtime import Runtime, serve

from . import handlers
from .api import roster_router
from .bootstrap import Ports, bootstrap
from .settings import Settings

SERVICE = "enrollment"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt: Runtime[Ports] = Runtime(SERVICE, settings)
    rt.publisher.declare(contract.ENROLLED, "Roster imports and operator edits, as upstream would send them.")
    rt.publisher.declare(contract.WITHDRAWN, "An operator withdrew a participant (our addition to the contract).")

    @rt.consume(contract.ENROLLED, EnrolledData)
    async def on_enrolled(envelope: CloudEvent, data: EnrolledData) -> None:
        await handlers.enroll(envelope, data, rt.ports().roster)

    @rt.consume(contract.WITHDRAWN, WithdrawnData)
    async def on_withdrawn(_: CloudEvent, data: WithdrawnData) -> None:
        await handlers.record_withdrawal(data, rt.ports().roster)

    app = rt.http_app("Humas enrollment service", rt.lifespan(lambda: bootstrap(rt)))
    app.include_router(roster_router(rt.programs, rt.operator, rt.ports))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
