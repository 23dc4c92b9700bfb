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
    program: Program, participant: Participant, counted: set[int], now: dt.datetime
) -> CompletedData | None:
    """The `completed` data when the counted sessions satisfy the program's rule, else None."""
    if not program.completion.is_complete(counted):
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
