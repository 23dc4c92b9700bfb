"""The roster's rules: pure, no I/O.

Withdrawal is final (decision 6): nothing brings a withdrawn participant back, neither an
operator's edit nor a row of an import. An import is all or nothing unless the operator says
otherwise, and publishes only what changes, so importing the same file twice is a no-op.
"""

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from shared.contract.events import EnrolledData, WithdrawnData
from shared.contract.participant import Participant

from .roster_file import RosterFile, RowError

REFUSED_IMPORT = "rows have errors: nothing imported (fix them, or pass accept_valid_rows=true)"


class Withdrawn(ValueError):
    """The participant has withdrawn; withdrawal is final."""


class NotEnrolled(LookupError):
    """No such participant in this program."""


@dataclass(frozen=True)
class RosterEntry:
    """What the roster holds of one participant. A withdrawal may be recorded before the
    enrollment it ends, so either may be missing."""

    participant: Participant | None
    withdrawn_at: dt.datetime | None = None
    withdrawal_reason: str | None = None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class Change(StrEnum):
    """What an incoming `enrolled` is to the roster. The values name `ImportReport`'s counters."""

    WITHDRAWN = "withdrawn"
    UNCHANGED = "unchanged"
    NEW = "new"
    UPDATED = "updated"

    @property
    def publishes(self) -> bool:
        return self in (Change.NEW, Change.UPDATED)


def classify(entry: RosterEntry, data: EnrolledData) -> Change:
    if entry.withdrawn_at is not None:
        return Change.WITHDRAWN
    if entry.participant == Participant.from_event(data):
        return Change.UNCHANGED
    return Change.NEW if entry.participant is None else Change.UPDATED


def edit(entry: RosterEntry, data: EnrolledData) -> Change:
    """An operator's add or update. Refused, not skipped as an import row is: the operator asked
    for this one participant and must hear why nothing happens."""
    change = classify(entry, data)
    if change is Change.WITHDRAWN:
        raise Withdrawn(f"the participant withdrew on {entry.withdrawn_at:%Y-%m-%d}: withdrawal is final")
    return change


def withdrawal(entry: RosterEntry, program_id: str, nip: str, reason: str, now: dt.datetime) -> WithdrawnData:
    """An operator's withdrawal, dated by the first one when the participant has already withdrawn:
    the earliest withdrawal stands, so a second one must not carry a later date."""
    if entry.participant is None:
        raise NotEnrolled("no such participant in this program")
    return WithdrawnData(program_id=program_id, nip=nip, reason=reason, withdrawn_at=entry.withdrawn_at or now)


@dataclass(frozen=True)
class ImportPlan:
    publish: bool  # whether the new and updated rows are published
    refusal: str | None = None  # why nothing was imported, when an import (not a dry run) was asked for


def plan_import(parsed: RosterFile, *, dry_run: bool, accept_valid_rows: bool) -> ImportPlan:
    """All or nothing by default: a file with errors changes nothing until fixed, so an operator
    never has to find out which half of a file went in. A dry run is never refused: it is how
    the operator sees the errors."""
    blocked = bool(parsed.errors) and not accept_valid_rows
    return ImportPlan(publish=not (dry_run or blocked), refusal=REFUSED_IMPORT if blocked and not dry_run else None)


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

    @classmethod
    def of(cls, program_id: str, parsed: RosterFile, *, dry_run: bool) -> "ImportReport":
        rejected = len({e.row for e in parsed.errors})  # a row with several errors is one rejected row
        return cls(program_id, dry_run, rows=parsed.rows, accepted=len(parsed.accepted), rejected=rejected,
                   errors=parsed.errors)  # fmt: skip

    def count(self, change: Change) -> None:
        setattr(self, change.value, getattr(self, change.value) + 1)
