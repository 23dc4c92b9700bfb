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
