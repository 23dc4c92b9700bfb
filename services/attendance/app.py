"""Wires the attendance service: settings → runtime → subscribers → HTTP app."""

import asyncio
import contextlib
import datetime as dt
import socket
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream import AckPolicy
from pydantic import Field, model_validator

from shared import contract
from shared.batching import MicroBatcher
from shared.events import AttendedData, EnrolledData, WithdrawnData
from shared.inflight import MARGIN_S, Heartbeat, Watermark
from shared.logs import describe
from shared.messaging import EVENTS, consumer_queue, consumes, raw_body, retry_transient
from shared.outbox import MongoOutbox
from shared.programs import Programs
from shared.roster import participant_key
from shared.runtime import Runtime, serve
from shared.settings import ServiceSettings

from . import handlers
from .api import attendance_router
from .repository import MongoAttendanceBook, MongoAttendanceReports, MongoReplicas

SERVICE = "attendance"


class Settings(ServiceSettings):
    mongodb_database: str = "attendance"
    http_port: int = 8002
    # Quiet time after a participant's last report before a closed program completes them.
    settle_seconds: float = Field(default=30.0, ge=0)
    # Attendance reports written per bulk write (at most `prefetch` are in flight at once).
    batch_size: int = Field(default=64, ge=1, le=1000)
    prefetch: int = Field(default=128, ge=1, le=1000)
    # Completion waits while a replica may hold reports not yet written (shared/inflight.py): one
    # whose heartbeat is this old may be slow; one whose heartbeat is older than the expiry is dead,
    # and the broker has put back what it held (it drops a silent peer after its AMQP heartbeat
    # timeout, 60 s by default). A replica killed outright delays completions up to the expiry.
    replica_silence_s: float = Field(default=15.0, gt=0)
    replica_expiry_s: float = Field(default=90.0, gt=0)
    # Unique per running replica, the same when it restarts in its place (default: host:http_port).
    replica_id: str = ""

    @model_validator(mode="after")
    def _replica_times(self) -> "Settings":
        if self.replica_silence_s <= self.outbox_interval_s + MARGIN_S:
            raise ValueError("replica_silence_s must exceed outbox_interval_s + 1 s: heartbeats come once a sweep")
        if self.replica_expiry_s <= self.replica_silence_s:
            raise ValueError("replica_expiry_s must exceed replica_silence_s")
        return self


def key(data) -> str:
    return participant_key(data.program_id, data.nip)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt = Runtime(SERVICE, settings)
    rt.publisher.declare(contract.COMPLETED, "A participant completed the program: published once per (program_id, nip).")
    programs = Programs.load(settings.programs_dir)
    enrolled = {contract.TYPE_BY_ROUTING_KEY[contract.ENROLLED]: EnrolledData}
    attended = {contract.TYPE_BY_ROUTING_KEY[contract.ATTENDED]: AttendedData}
    deps: dict = {}
    enrolled_q = consumer_queue(rt.queue_name(contract.ENROLLED), contract.ENROLLED, settings.delivery_limit)
    attended_q = consumer_queue(rt.queue_name(contract.ATTENDED), contract.ATTENDED, settings.delivery_limit)
    withdrawn_q = consumer_queue(rt.queue_name(contract.WITHDRAWN), contract.WITHDRAWN, settings.delivery_limit)
    withdrawals = {contract.TYPE_BY_ROUTING_KEY[contract.WITHDRAWN]: WithdrawnData}

    async def publish_completed(doc_id: str, event) -> None:
        """Right after the write that stored it: publish its outbox entry (the relay covers a crash)."""
        await retry_transient(lambda: deps["outbox"].publish_stored(doc_id, contract.COMPLETED, event))

    @rt.broker.subscriber(enrolled_q, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.ENROLLED))
    async def on_enrolled(body: bytes) -> None:
        async with rt.settling(enrolled_q.name) as message:
            if not (decoded := await rt.accept(body, message, enrolled_q.name, enrolled, programs)):
                return
            envelope, data = decoded
            program = programs.get(data.program_id)
            completed = await retry_transient(lambda: handlers.record_enrolment(envelope, data, program, deps["book"]))
            if completed:
                await publish_completed(key(data), completed)

    @rt.broker.subscriber(attended_q, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.ATTENDED))
    async def on_attended(body: bytes) -> None:
        async with rt.settling(attended_q.name) as message:
            if not (decoded := await rt.accept(body, message, attended_q.name, attended, programs)):
                return
            _, data = decoded
            # Written together with the other reports in flight: one bulk write per batch.
            completed = await retry_transient(lambda: deps["batcher"].submit(data))
            if completed:
                await publish_completed(key(data), completed)

    @rt.broker.subscriber(withdrawn_q, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.WITHDRAWN))
    async def on_withdrawn(body: bytes) -> None:
        async with rt.settling(withdrawn_q.name) as message:
            if not (decoded := await rt.accept(body, message, withdrawn_q.name, withdrawals, programs)):
                return
            data = decoded[1]
            await retry_transient(lambda: handlers.record_withdrawal(data, programs.get(data.program_id), deps["book"]))

    inputs = (attended_q, enrolled_q, withdrawn_q)  # each can change what is certified
    replica, incarnation = settings.replica_id or f"{socket.gethostname()}:{settings.http_port}", uuid.uuid4().hex
    watermark = Watermark(settings.replica_silence_s, settings.replica_expiry_s)

    def heartbeat() -> Heartbeat:
        return Heartbeat(replica, time.time(), rt.in_flight.oldest(), incarnation)

    async def beat() -> None:
        await deps["replicas"].beat(heartbeat())

    async def reports_pending() -> bool:
        """Whether an input report may not be written yet: still queued, or taken by a replica."""
        asked = time.time()
        watermark.observe(asked, await rt.waiting(*inputs))
        await beat()
        beats = await deps["replicas"].beats()
        if any(b.replica == replica and b.incarnation != incarnation for b in beats):
            # Each takes the other for a restarted replica: nothing completes until the ids differ.
            rt.log.warning("another running replica has this replica_id", replica_id=replica)
        return watermark.handled_before(beats, time.time()) is None

    async def sweep(book: MongoAttendanceBook) -> None:
        settle = dt.timedelta(seconds=settings.settle_seconds)
        try:
            while True:
                await sweep_pass(book, settle)
                await asyncio.sleep(settings.outbox_interval_s)
        finally:  # cancelled by rt.stop() once the broker stopped: nothing in hand any more
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deps["replicas"].forget(heartbeat()), 5)

    async def sweep_pass(book: MongoAttendanceBook, settle: dt.timedelta) -> None:
        for program in programs:
            try:
                # Chunk by chunk (bounded memory), each published straight from its write like
                # the handlers' (the relay covers crashes); the next chunk at once while they come full.
                while done := await handlers.complete_settled(program, book, settle,
                                                              reports_pending=await reports_pending()):
                    await asyncio.gather(*(deps["outbox"].publish_stored(participant_key(program.id, nip),
                                                                         contract.COMPLETED, event)
                                           for nip, event in done))  # fmt: skip
                    rt.log.info("completed settled participants", program_id=program.id, count=len(done))
                    if len(done) < handlers.SWEEP_CHUNK:
                        break
            except Exception as e:  # an outage must not end the sweep; the next pass retries
                rt.log.warning("completion sweep failed", error=describe(e))  # its keys hold NIPs: masked
                rt.log.debug("completion sweep failed", exc_info=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        deps["book"] = book = MongoAttendanceBook(await rt.connect_database())
        deps["reports"] = MongoAttendanceReports(rt.db)
        deps["batcher"] = MicroBatcher(lambda batch: handlers.record_attendance_batch(batch, programs, book),
                                       size=settings.batch_size)  # fmt: skip
        deps["outbox"] = outbox = MongoOutbox(book.participants, rt.publisher)
        deps["replicas"] = MongoReplicas(rt.db)
        await retry_transient(book.ensure_indexes, give_up_after=settings.startup_timeout_s)
        await retry_transient(beat, give_up_after=settings.startup_timeout_s)  # known before it takes anything
        await rt.start_consuming()
        rt.spawn(outbox.relay(settings.outbox_interval_s))
        rt.spawn(sweep(book))
        yield
        await rt.stop()

    app = rt.http_app("Humas attendance service", lifespan)
    app.include_router(attendance_router(programs, rt.operator, deps))
    return app


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
