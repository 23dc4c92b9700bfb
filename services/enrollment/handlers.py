"""Thin handlers: the roster's events, and the operator's imports, edits and withdrawals.

Operator changes are not written here: they are published as events (`enrolled`,
`withdrawn`) like any upstream's, and this service's own consumer records them. One path
for every change, so attendance and enrollment see the same facts in the same way.
The rules they apply are in domain.py.
"""

import datetime as dt

from shared import contract
from shared.contract.events import CloudEvent, EnrolledData, WithdrawnData, new_event
from shared.contract.ordering import event_key, rank
from shared.contract.participant import Participant
from shared.platform.messaging import Publisher

from . import domain
from .domain import ImportReport
from .repository import Roster
from .roster_file import RosterFile

SOURCE = "/services/enrollment"


async def enroll(envelope: CloudEvent, data: EnrolledData, roster: Roster, now: dt.datetime | None = None) -> bool:
    """Record a participant or an update of one; a stale update changes nothing (shared/contract/ordering.py)."""
    participant, event = Participant.from_event(data), event_key(envelope.source, envelope.id)
    received = None if envelope.time else await roster.first_receipt(participant, event, now or dt.datetime.now(dt.UTC))
    return await roster.save(participant, rank(envelope.time, event, received))


async def record_withdrawal(data: WithdrawnData, roster: Roster) -> None:
    await roster.withdraw(data.program_id, data.nip, data.reason, data.withdrawn_at)


async def import_roster(
    program_id: str, parsed: RosterFile, roster: Roster, publisher: Publisher, *, dry_run: bool
) -> ImportReport:
    """Publish `enrolled` for each new or changed row; a dry run reports the same without publishing."""
    report = ImportReport.of(program_id, parsed, dry_run=dry_run)
    for _, data in parsed.accepted:
        change = domain.classify(await roster.lookup(program_id, data.nip), data)
        report.count(change)
        if change.publishes and not dry_run:
            await publisher.publish(contract.ENROLLED, new_event(contract.ENROLLED, SOURCE, data))
            report.published += 1
    return report


async def put_participant(data: EnrolledData, roster: Roster, publisher: Publisher) -> CloudEvent | None:
    """Manual add or update: publishes `enrolled` unless nothing changes (None then)."""
    if not domain.edit(await roster.lookup(data.program_id, data.nip), data).publishes:
        return None
    event = new_event(contract.ENROLLED, SOURCE, data)
    await publisher.publish(contract.ENROLLED, event)
    return event


async def withdraw(program_id: str, nip: str, reason: str, roster: Roster, publisher: Publisher,
                   now: dt.datetime | None = None) -> CloudEvent:  # fmt: skip
    entry = await roster.lookup(program_id, nip)
    data = domain.withdrawal(entry, program_id, nip, reason, now or dt.datetime.now(dt.UTC))
    event = new_event(contract.WITHDRAWN, SOURCE, data)
    await publisher.publish(contract.WITHDRAWN, event)
    return event
