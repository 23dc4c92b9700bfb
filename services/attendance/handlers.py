"""Thin handlers: load, call the domain, save. Publishing is the outbox's job."""

import datetime as dt

from shared import contract
from shared.events import AttendedData, CloudEvent, EnrolledData, completed_event_id, new_event
from shared.programs import Program
from shared.roster import Participant, event_time

from . import domain
from .repository import AttendanceBook

SOURCE = "/services/attendance"


async def record_enrolment(envelope: CloudEvent, data: EnrolledData, program: Program, book: AttendanceBook) -> None:
    await book.save_participant(Participant.from_event(data), event_time(envelope.time))
    await complete_if_due(program, data.nip, book)


async def record_attendance(data: AttendedData, program: Program, book: AttendanceBook) -> None:
    await book.record(domain.presence(program, data.nip, data.session, data.minutes))
    await complete_if_due(program, data.nip, book)


async def complete_if_due(
    program: Program, nip: str, book: AttendanceBook, now: dt.datetime | None = None
) -> CloudEvent | None:
    """Completion needs both the enrolment and enough counted sessions, in whichever order
    they arrive; the conditional write in `mark_completed` makes it happen once."""
    enrolment = await book.enrolment(program.id, nip)
    if enrolment is None or enrolment.completed:
        return None
    counted = await book.counted_sessions(program.id, nip)
    data = domain.completion(program, enrolment.participant, counted, now or dt.datetime.now(dt.UTC))
    if data is None:
        return None
    event = new_event(contract.COMPLETED, SOURCE, data, id=completed_event_id(program.id, nip))
    return event if await book.mark_completed(program.id, nip, event) else None
