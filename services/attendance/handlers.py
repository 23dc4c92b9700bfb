"""Thin handlers: load, call the domain, save. Publishing is the outbox's job."""

import datetime as dt

from shared import contract
from shared.events import AttendedData, CloudEvent, EnrolledData, completed_event_id, new_event
from shared.programs import Program
from shared.roster import Participant, event_time

from . import domain
from .repository import AttendanceBook

SOURCE = "/services/attendance"


async def record_enrolment(
    envelope: CloudEvent, data: EnrolledData, program: Program, book: AttendanceBook, now: dt.datetime | None = None
) -> None:
    await book.save_participant(Participant.from_event(data), event_time(envelope.time))
    await complete_if_due(program, data.nip, book, now)


async def record_attendance(
    data: AttendedData, program: Program, book: AttendanceBook, now: dt.datetime | None = None
) -> None:
    await book.record(domain.presence(program, data.nip, data.session, data.minutes))
    await complete_if_due(program, data.nip, book, now)


async def complete_if_due(
    program: Program, nip: str, book: AttendanceBook, now: dt.datetime | None = None, *, settled: bool = False
) -> CloudEvent | None:
    """Completion needs both the enrolment and the counted sessions, in whichever order they
    arrive; the conditional write in `mark_completed` makes it happen once, across replicas."""
    now = now or dt.datetime.now(dt.UTC)
    enrolment = await book.enrolment(program.id, nip)
    if enrolment is None or enrolment.completed:
        return None
    counted = await book.counted_sessions(program.id, nip)
    data = domain.completion(program, enrolment.participant, counted, now, settled=settled)
    if data is None:
        if not settled:
            await book.note_activity(program.id, nip, program.completion.is_complete(counted), now)
        return None
    event = new_event(contract.COMPLETED, SOURCE, data, id=completed_event_id(program.id, nip))
    return event if await book.mark_completed(program.id, nip, event) else None


async def complete_settled(program: Program, book: AttendanceBook, settle: dt.timedelta, now: dt.datetime | None = None) -> int:
    """The sweep: complete eligible participants of a closed program whose reports have settled."""
    now = now or dt.datetime.now(dt.UTC)
    if not program.is_closed(now):
        return 0
    done = 0
    for nip in await book.settled_candidates(program.id, quiet_since=now - settle):
        done += await complete_if_due(program, nip, book, now, settled=True) is not None
    return done
