"""The attendance service's ports, built once in the lifespan (cosmicpython's bootstrap)."""

from dataclasses import dataclass

from shared.contract.events import AttendedData, CloudEvent
from shared.platform.batching import MicroBatcher
from shared.platform.messaging import retry_transient
from shared.platform.outbox import MongoOutbox
from shared.platform.runtime import Runtime

from . import handlers
from .repository import AttendanceBook, MongoAttendanceBook, MongoAttendanceReports, MongoReplicas
from .settings import Settings


@dataclass(frozen=True)
class Ports:
    book: AttendanceBook
    reports: MongoAttendanceReports  # read side of the operator API
    # Concurrent `attended` handlers' writes: one bulk write per batch (shared/platform/batching.py).
    batched_reports: MicroBatcher[AttendedData, CloudEvent | None]
    outbox: MongoOutbox
    replicas: MongoReplicas


async def bootstrap(rt: Runtime[Ports], settings: Settings) -> Ports:
    db = await rt.connect_database()
    book = MongoAttendanceBook(db)
    ports = Ports(
        book=book,
        reports=MongoAttendanceReports(db),
        batched_reports=MicroBatcher(
            lambda batch: handlers.record_attendance_batch(batch, rt.programs, book), size=settings.batch_size
        ),
        outbox=MongoOutbox(book.participants, rt.publisher),
        replicas=MongoReplicas(db),
    )
    await retry_transient(book.ensure_indexes, give_up_after=settings.startup_timeout_s)
    return ports
