"""Operator HTTP API of the attendance service (X-API-Key): progress per participant, the
attendance sheet of a session, and counts per jenjang and unit kerja. NIPs go in bodies."""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from shared import contract
from shared.contract.programs import Program, Programs
from shared.platform.http import known_program

from . import domain
from .bootstrap import Ports
from .repository import Record


class ProgressQuery(BaseModel):
    nip: str


def attendance_router(programs: Programs, operator, ports: Callable[[], Ports],
                      today=lambda: dt.datetime.now(dt.UTC).date()) -> APIRouter:  # fmt: skip
    router = APIRouter(prefix="/api/attendance", tags=["attendance (operators)"], dependencies=[Depends(operator)])

    known = known_program(programs)

    def progress_of(program: Program, r: Record) -> domain.Progress:
        return domain.progress(program, r.nip, r.participant, r.presence, set(r.counted), r.completed, r.withdrawn,
                               today())  # fmt: skip

    @router.get("/{program_id}/participants", summary="Every participant with progress, filtered and paged")
    async def participants(
        program: Program = Depends(known),
        jenjang: str | None = Query(None, pattern="^(" + "|".join(contract.JENJANG) + ")$"),
        unit_kerja: str | None = None,
        status: str | None = Query(None, pattern="^(in_progress|cannot_complete|completed|withdrawn)$"),
        can_still_complete: bool | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict:
        matching = []
        async for record in ports().reports.records(program.id):
            p = progress_of(program, record)
            who = p.participant
            if (jenjang and (not who or who.jenjang != jenjang)) or (
                unit_kerja and (not who or who.unit_kerja != unit_kerja)
            ):
                continue
            if (status and p.status != status) or (
                can_still_complete is not None and p.can_still_complete != can_still_complete
            ):
                continue
            matching.append(p)
        page = matching[offset : offset + limit]
        return {"program_id": program.id, "total": len(matching), "limit": limit, "offset": offset,
                "participants": [_progress_json(program, p) for p in page]}  # fmt: skip

    @router.post("/{program_id}/progress", summary="One participant's progress (the NIP in the body)")
    async def one(body: ProgressQuery, program: Program = Depends(known)) -> dict:
        record = await ports().reports.record(program.id, body.nip)
        if record is None:
            raise HTTPException(404, "no attendance or enrollment for this NIP in this program")
        return _progress_json(program, progress_of(program, record))

    @router.get("/{program_id}/sessions/{number}", summary="The attendance sheet of one session")
    async def sheet(number: int, program: Program = Depends(known)) -> dict:
        if not 1 <= number <= program.session_count:
            raise HTTPException(404, f"session must be between 1 and {program.session_count}")
        session = program.sessions[number - 1]
        rows = []
        async for r in ports().reports.records(program.id):
            if number in r.presence:
                rows.append({**_who(r.nip, r.participant), "minutes": r.presence[number] or None,
                             "counted": number in r.counted})  # fmt: skip
        return {"program_id": program.id, "session": number, "date": session.date.isoformat(), "topic": session.topic,
                "min_minutes": program.completion.min_minutes, "present": len(rows),
                "counted": sum(1 for r in rows if r["counted"]), "participants": rows}  # fmt: skip

    @router.get("/{program_id}/summary", summary="Counts per jenjang and per unit kerja")
    async def summary(program: Program = Depends(known)) -> dict:
        by_jenjang: dict[str, Counter] = defaultdict(Counter)
        by_unit: dict[str, Counter] = defaultdict(Counter)
        total: Counter = Counter()
        async for record in ports().reports.records(program.id):
            p = progress_of(program, record)
            if p.participant is None:
                continue  # attendance reported for someone not (yet) enrolled: not on the roster
            for counter in (by_jenjang[p.participant.jenjang], by_unit[p.participant.unit_kerja], total):
                counter["enrolled"] += 1
                counter[p.status] += 1
        return {"program_id": program.id, "total": dict(total),
                "by_jenjang": {k: dict(v) for k, v in sorted(by_jenjang.items())},
                "by_unit_kerja": {k: dict(v) for k, v in sorted(by_unit.items())}}  # fmt: skip

    @router.get("/{program_id}/overview", summary="For the console: per-session counts and outlook counts, in one pass")
    async def overview(program: Program = Depends(known)) -> dict:
        present, counted = Counter(), Counter()
        outlook: dict[str, dict[str, Counter]] = {
            "by_jenjang": defaultdict(Counter),
            "by_unit_kerja": defaultdict(Counter),
        }
        total: Counter = Counter()
        async for record in ports().reports.records(program.id):
            present.update(record.presence.keys())
            counted.update(record.counted)
            p = progress_of(program, record)
            if p.participant is None:
                continue  # attendance reported for someone not (yet) enrolled: not on the roster
            for counter in (outlook["by_jenjang"][p.participant.jenjang],
                            outlook["by_unit_kerja"][p.participant.unit_kerja], total):  # fmt: skip
                counter["enrolled"] += 1
                counter[p.status] += 1
        held = today()
        return {"program_id": program.id, "total": dict(total),
                "sessions": [{"session": s.number, "date": s.date.isoformat(), "held": s.date <= held,
                              "present": present[s.number], "counted": counted[s.number]} for s in program.sessions],
                **{k: {name: dict(c) for name, c in sorted(v.items())} for k, v in outlook.items()}}  # fmt: skip

    return router


def _who(nip: str, participant) -> dict:
    if participant is None:
        return {"nip": nip, "name": None, "jenjang": None, "unit_kerja": None}
    return {"nip": nip, "name": participant.name, "jenjang": participant.jenjang, "unit_kerja": participant.unit_kerja}


def _progress_json(program: Program, p: domain.Progress) -> dict:
    return {
        **_who(p.nip, p.participant),
        "status": p.status,
        "sessions_counted": list(p.counted),
        "sessions_recorded_not_counted": [s for s in p.presence if s not in p.counted],
        "presence_minutes": {str(s): (m or None) for s, m in p.presence.items()},
        "jp": p.jp,
        "sessions_remaining": p.sessions_remaining,
        "can_still_complete": p.can_still_complete,
        "rule": f"at least {program.completion.min_sessions} of {program.session_count} sessions",
    }
