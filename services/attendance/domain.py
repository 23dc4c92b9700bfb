"""Completion: pure rules, no I/O."""

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Literal

from shared.contract.events import CompletedData
from shared.contract.participant import Participant
from shared.contract.programs import Program


@dataclass(frozen=True)
class Presence:
    program_id: str
    nip: str
    session: int
    minutes: int | None
    counts: bool


@dataclass(frozen=True)
class Attendee:
    """What completion needs to know about one participant of one program."""

    program_id: str
    nip: str
    participant: Participant | None  # None until the enrollment arrives
    counted: frozenset[int]
    completed: bool = False
    eligible: bool = False  # stored flag: a sweep candidate (the rule met, waiting to settle)
    withdrawn: bool = False
    withdrawn_before_end: bool = False  # before the last session: see withdrawal_stops_completion


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


class Outcome(enum.Enum):
    COMPLETE = "complete"
    ELIGIBLE_WAITING = "eligible_waiting"  # the rule is met; more JP may come until closed and settled
    NOT_YET = "not_yet"  # too few sessions so far
    NEVER = "never"  # no more sessions change it (Verdict.why); not_enrolled lasts until the enrollment


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    # What the stored `eligible` flag should say. It is the sweep's candidate list, so a flag
    # left set where nothing can complete would hold a place in every sweep chunk.
    eligible: bool
    completed: CompletedData | None = None  # COMPLETE only
    # COMPLETE with every session: the completion write must not yield to a withdrawal before the
    # end that landed first, or the outcome would depend on the order (completes_despite_withdrawal).
    despite_withdrawal: bool = False
    why: Literal["not_enrolled", "completed", "withdrawn_before_end"] | None = None  # NEVER only


def verdict(program: Program, attendee: Attendee, now: dt.datetime, *, settled: bool = False) -> Verdict:
    """Whether to complete the attendee now (`completion` says when), and what the stored flag
    should become. Completion needs both the enrollment and the counted sessions, in whichever
    order they arrive: not enrolled yet is NEVER for now, and the enrollment asks again."""
    if attendee.participant is None:
        return Verdict(Outcome.NEVER, eligible=False, why="not_enrolled")
    if attendee.completed:
        return Verdict(Outcome.NEVER, eligible=False, why="completed")
    if withdrawal_stops_completion(program, attendee.withdrawn_before_end, attendee.counted):
        return Verdict(Outcome.NEVER, eligible=False, why="withdrawn_before_end")
    counted = set(attendee.counted)
    if (data := completion(program, attendee.participant, counted, now, settled=settled)) is not None:
        return Verdict(Outcome.COMPLETE, eligible=False, completed=data,
                       despite_withdrawal=completes_despite_withdrawal(program, counted))  # fmt: skip
    if program.completion.is_complete(counted):
        return Verdict(Outcome.ELIGIBLE_WAITING, eligible=True)
    return Verdict(Outcome.NOT_YET, eligible=False)


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
