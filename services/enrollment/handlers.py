"""Thin handlers: the roster's events, and the operator's imports, edits and withdrawals.

Operator changes are not written here: they are published as events (`enrolled`,
`withdrawn`) like any upstream's, and this service's own consumer records them. One path
for every change, so attendance and enrollment see the same facts in the same way.
"""

import datetime as dt
from dataclasses import dataclass, field

from shared import contract
from shared.events import CloudEvent, EnrolledData, WithdrawnData, new_event
from shared.messaging import Publisher
from shared.ordering import event_key, rank
from shared.roster import Participant

from .repository import Roster
from .roster_file import RosterFile, RowError

SOURCE = "/services/enrollment"


async def enrol(envelope: CloudEvent, data: EnrolledData, roster: Roster, now: dt.datetime | None = None) -> bool:
    """Record a participant or an update of one; a stale update changes nothing (shared/ordering.py)."""
    participant, event = Participant.from_event(data), event_key(envelope.source, envelope.id)
    received = None if envelope.time else await roster.first_receipt(participant, event, now or dt.datetime.now(dt.UTC))
    return await roster.save(participant, rank(envelope.time, event, received))


async def record_withdrawal(data: WithdrawnData, roster: Roster) -> None:
    await roster.withdraw(data.program_id, data.nip, data.reason, data.withdrawn_at)


@dataclass
class ImportReport:
    program_id: str
    dry_run: bool
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0  # rows of withdrawn participants: withdrawal is final, they are skipped
    published: int = 0
    errors: list[RowError] = field(default_factory=list)


async def import_roster(
    program_id: str, parsed: RosterFile, roster: Roster, publisher: Publisher, *, dry_run: bool
) -> ImportReport:
    """Publish `enrolled` for each new or changed row; unchanged rows publish nothing, so a
    re-import of the same file is a no-op. A dry run reports the same without publishing."""
    report = ImportReport(program_id, dry_run, rows=parsed.rows, accepted=len(parsed.accepted),
                          rejected=len({e.row for e in parsed.errors}), errors=parsed.errors)  # fmt: skip
    for _, data in parsed.accepted:
        entry = await roster.lookup(program_id, data.nip)
        if entry.withdrawn:
            report.withdrawn += 1
            continue
        if entry.participant == Participant.from_event(data):
            report.unchanged += 1
            continue
        if entry.participant is None:
            report.new += 1
        else:
            report.updated += 1
        if not dry_run:
            await publisher.publish(contract.ENROLLED, new_event(contract.ENROLLED, SOURCE, data))
            report.published += 1
    return report


async def put_participant(data: EnrolledData, roster: Roster, publisher: Publisher) -> CloudEvent | None:
    """Manual add or update: publishes `enrolled` unless nothing changes (None then)."""
    entry = await roster.lookup(data.program_id, data.nip)
    if entry.withdrawn:
        raise Withdrawn(f"the participant withdrew on {entry.withdrawn_at:%Y-%m-%d}: withdrawal is final")
    if entry.participant == Participant.from_event(data):
        return None
    event = new_event(contract.ENROLLED, SOURCE, data)
    await publisher.publish(contract.ENROLLED, event)
    return event


async def withdraw(program_id: str, nip: str, reason: str, roster: Roster, publisher: Publisher,
                   now: dt.datetime | None = None) -> CloudEvent:  # fmt: skip
    entry = await roster.lookup(program_id, nip)
    if entry.participant is None:
        raise NotEnrolled("no such participant in this program")
    data = WithdrawnData(program_id=program_id, nip=nip, reason=reason,
                         withdrawn_at=entry.withdrawn_at or now or dt.datetime.now(dt.UTC))  # fmt: skip
    event = new_event(contract.WITHDRAWN, SOURCE, data)
    await publisher.publish(contract.WITHDRAWN, event)
    return event


class Withdrawn(ValueError):
    pass


class NotEnrolled(LookupError):
    pass
