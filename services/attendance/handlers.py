"""Thin handlers: load, call the domain, save. Publishing is the outbox's job."""

import datetime as dt

from shared import contract
from shared.contract.events import (
    AttendedData,
    CloudEvent,
    EnrolledData,
    WithdrawnData,
    completed_event_id,
    new_event,
)
from shared.contract.ordering import event_key, rank
from shared.contract.participant import Participant, participant_key
from shared.contract.programs import Program, Programs

from . import domain
from .repository import AttendanceBook

SOURCE = "/services/attendance"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


async def record_enrollment(
    envelope: CloudEvent, data: EnrolledData, program: Program, book: AttendanceBook, now: dt.datetime | None = None
) -> CloudEvent | None:
    now = _now(now)
    participant, event = Participant.from_event(data), event_key(envelope.source, envelope.id)
    # An undated event ranks by when it was first received (shared/contract/ordering.py).
    received = None if envelope.time else await book.first_receipt(participant, event, now)
    await book.save_participant(participant, rank(envelope.time, event, received))
    return await complete_if_due(program, await book.attendee(program.id, data.nip), book, now)


async def record_attendance(
    data: AttendedData, program: Program, book: AttendanceBook, now: dt.datetime | None = None
) -> CloudEvent | None:
    now = _now(now)
    attendee = await book.record(domain.presence(program, data.nip, data.session, data.minutes), now)
    return await complete_if_due(program, attendee, book, now)


async def record_attendance_batch(
    batch: list[AttendedData], programs: Programs, book: AttendanceBook, now: dt.datetime | None = None
) -> list[CloudEvent | None]:
    """`record_attendance` for many reports at once: one bulk write, one read back, then the
    completion rule per report (a participant twice in the batch completes once)."""
    now = _now(now)
    presences = [domain.presence(programs.get(d.program_id), d.nip, d.session, d.minutes) for d in batch]
    attendees = await book.record_many(presences, now)
    return [await complete_if_due(programs.get(d.program_id), attendees[participant_key(d.program_id, d.nip)], book, now)
            for d in batch]  # fmt: skip


async def record_withdrawal(data: WithdrawnData, program: Program, book: AttendanceBook) -> None:
    before_end = domain.withdrawn_before_end(program, data.withdrawn_at)
    await book.withdraw(data.program_id, data.nip, data.withdrawn_at, before_end)


async def complete_if_due(
    program: Program, attendee: domain.Attendee, book: AttendanceBook, now: dt.datetime, *, settled: bool = False
) -> CloudEvent | None:
    """Ask the verdict, write it. The conditional write in `mark_completed` makes a completion
    happen once, across replicas."""
    verdict = domain.verdict(program, attendee, now, settled=settled)
    if verdict.outcome is not domain.Outcome.COMPLETE:
        if verdict.eligible != attendee.eligible:  # written once per participant, not per event
            await book.set_eligible(program.id, attendee.nip, verdict.eligible)
        return None
    event = new_event(contract.COMPLETED, SOURCE, verdict.completed, id=completed_event_id(program.id, attendee.nip))
    written = await book.mark_completed(program.id, attendee.nip, event, despite_withdrawal=verdict.despite_withdrawal)
    return event if written else None


SWEEP_CHUNK = 256


async def complete_settled(
    program: Program,
    book: AttendanceBook,
    settle: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = SWEEP_CHUNK,
    reports_pending: bool = False,
) -> list[tuple[str, CloudEvent]]:
    """The sweep: complete eligible participants of a closed program whose reports have settled,
    at most `limit` per call (the caller publishes each chunk and calls again while chunks come
    back full). Returns (nip, `completed` event) for each completion this call wrote.

    `reports_pending`: some input report may not be written yet, and its participant looks quiet
    to us: still queued behind a backlog (a replay, an outage: at scale 100 the sweep had issued 12
    sessions' worth to people whose last 4 reports were still queued, docs/performance.md), or
    taken from the queue but not yet written (a handler backing off through a database blip,
    another replica's prefetch). The sweep learns both from the broker's count and every
    replica's heartbeat (shared/platform/inflight.py, decision 0003)."""
    now = _now(now)
    if reports_pending or not program.is_closed(now):
        return []
    done = []
    for nip in await book.settled_candidates(program.id, quiet_since=now - settle, limit=limit):
        if event := await complete_if_due(program, await book.attendee(program.id, nip), book, now, settled=True):
            done.append((nip, event))
    return done
