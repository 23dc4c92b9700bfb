"""Completion: pure rules, no I/O."""

import datetime as dt
from dataclasses import dataclass

from shared.events import CompletedData
from shared.programs import Program
from shared.roster import Participant


@dataclass(frozen=True)
class Presence:
    program_id: str
    nip: str
    session: int
    minutes: int | None
    counts: bool


def presence(program: Program, nip: str, session: int, minutes: int | None) -> Presence:
    return Presence(program.id, nip, session, minutes, program.completion.counts(minutes))


def completion(
    program: Program, participant: Participant, counted: set[int], now: dt.datetime, *, settled: bool = False
) -> CompletedData | None:
    """The `completed` data once the participant can earn no more, else None.

    The certificate states sessions and JP, which count toward promotion, so completing at
    the 12th session would under-credit someone who attends all 16. A participant completes
    at once with every session counted; otherwise when the rule is met, the program has
    closed and their attendance has settled (no new reports for a while).
    """
    everything = len(counted) == program.session_count
    if not (everything or (settled and program.is_closed(now) and program.completion.is_complete(counted))):
        return None
    return CompletedData(
        program_id=program.id,
        nip=participant.nip,
        name=participant.name,
        jenjang=participant.jenjang,
        unit_kerja=participant.unit_kerja,
        sessions=sorted(counted),
        jp=program.jp_for(counted),
        completed_at=now,
    )


def withdrawn_before_end(program: Program, withdrawn_at: dt.datetime) -> bool:
    """Whether a withdrawal ended the participation before the course did: dated before the day
    of the last session, in the calendar of `withdrawn_at` itself (the producer's own offset).
    One dated that day or later comes after the course was delivered and takes nothing away."""
    return withdrawn_at.date() < program.sessions[-1].date


def completes_despite_withdrawal(program: Program, counted: set[int] | frozenset[int]) -> bool:
    """Attending every session always completes (docs/contract.md §6), even after a withdrawal dated
    before some of them. The reports say the participant was there; and a completion for every
    session is published at once, so no withdrawal arriving later could stop it: deciding the
    same when the withdrawal arrives first is what keeps the outcome independent of the order."""
    return len(counted) == program.session_count


def withdrawal_stops_completion(
    program: Program, withdrawn_before_end: bool, counted: set[int] | frozenset[int]
) -> bool:
    """A withdrawal before the end stops completion on the rule (min_sessions): the participant
    left before the course was over. Decided from the events' own dates, never from which was
    processed first (docs/decisions/0010-event-times-and-withdrawal.md)."""
    return withdrawn_before_end and not completes_despite_withdrawal(program, counted)


@dataclass(frozen=True)
class Progress:
    """Where a participant stands: what counted, what is left, whether completion is still possible."""

    nip: str
    participant: Participant | None
    presence: dict[int, int | None]  # session → minutes reported (None: presence without minutes)
    counted: tuple[int, ...]
    jp: int
    sessions_remaining: int
    can_still_complete: bool
    completed: bool
    withdrawn: bool

    @property
    def status(self) -> str:
        if self.completed:
            return "completed"
        if self.withdrawn:
            return "withdrawn"
        return "in_progress" if self.can_still_complete else "cannot_complete"


def progress(program: Program, nip: str, participant: Participant | None, presence: dict[int, int | None],
             counted: set[int], completed: bool, withdrawn: bool, today: dt.date) -> Progress:  # fmt: skip
    """Sessions remaining are those not yet held (dated today or later). A participant can still
    complete while the counted sessions plus the remaining ones can reach the rule; a late
    report for a past session (accepted until the program closes) is counted when it arrives."""
    remaining = sum(1 for s in program.sessions if s.date >= today and s.number not in counted)
    possible = not withdrawn and (completed or len(counted) + remaining >= program.completion.min_sessions)
    return Progress(nip, participant, dict(sorted(presence.items())), tuple(sorted(counted)), program.jp_for(counted),
                    remaining, possible, completed, withdrawn)  # fmt: skip
