"""Operator HTTP API of the enrollment service: roster import, manual add/update, withdrawal.

Every route needs an operator API key (X-API-Key). NIPs travel in bodies, never in URLs.
"""

from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from shared.contract.events import EnrolledData
from shared.contract.nip import InvalidNip, validate_nip
from shared.contract.programs import Program, Programs
from shared.platform.http import known_program, read_body

from . import domain, handlers, roster_file
from .bootstrap import Ports

CSV = "text/csv"


class ParticipantIn(BaseModel):
    nip: str = Field(examples=["198503122010011004"])
    name: str = Field(examples=["Dr. Siti Nur'aini, S.Sos., M.I.Kom."])
    jenjang: str = Field(examples=["ahli_pertama"])
    unit_kerja: str = Field(examples=["Biro Hubungan Masyarakat dan Komunikasi Publik"])
    email: str | None = None


class WithdrawalIn(BaseModel):
    nip: str
    reason: str = Field(min_length=1, max_length=200, examples=["mutasi ke instansi lain"])


class SearchIn(BaseModel):
    query: str = Field(min_length=2, max_length=200, examples=["siti"])
    limit: int = Field(default=50, ge=1, le=500)


class Accepted(BaseModel):
    status: str
    event_id: str | None = None


def roster_router(programs: Programs, operator, ports: Callable[[], Ports]) -> APIRouter:
    router = APIRouter(prefix="/api/roster", tags=["roster (operators)"], dependencies=[Depends(operator)])

    known = known_program(programs)

    @router.post(
        "/{program_id}/import",
        summary="Import the roster from CSV (or XLSX): validated per row, idempotent",
        openapi_extra={
            "requestBody": {
                "content": {
                    CSV: {"schema": {"type": "string"}},
                    roster_file.XLSX: {"schema": {"type": "string", "format": "binary"}},
                }
            }
        },
    )
    async def import_roster(
        request: Request,
        program: Program = Depends(known),
        dry_run: bool = Query(False, description="validate and report; publish nothing"),
        accept_valid_rows: bool = Query(False, description="publish the valid rows even when others have errors"),
    ) -> JSONResponse:
        program_id = program.id
        content = await read_body(request, roster_file.MAX_BYTES)
        try:
            table = roster_file.read_table(content, request.headers.get("content-type", CSV))
            parsed = roster_file.parse(program_id, table, programs)
        except roster_file.UnreadableFile as e:
            raise HTTPException(e.status_code, str(e)) from None  # 413 when over a size limit
        plan = domain.plan_import(parsed, dry_run=dry_run, accept_valid_rows=accept_valid_rows)
        report = await handlers.import_roster(
            program_id, parsed, ports().roster, ports().publisher, dry_run=not plan.publish
        )
        body = asdict(report)
        if plan.refusal:
            body["detail"] = plan.refusal
            return JSONResponse(body, status_code=422)
        return JSONResponse(body)

    @router.put("/{program_id}/participants", status_code=202, response_model=Accepted,
                summary="Add a participant, or update one (published as `enrolled`)")  # fmt: skip
    async def put_participant(body: ParticipantIn, program: Program = Depends(known)) -> Accepted:
        data = _validated(EnrolledData, {**body.model_dump(exclude_none=True), "program_id": program.id}, programs)
        try:
            event = await handlers.put_participant(data, ports().roster, ports().publisher)
        except domain.Withdrawn as e:
            raise HTTPException(409, str(e)) from None
        return Accepted(status="unchanged") if event is None else Accepted(status="accepted", event_id=event.id)

    @router.post("/{program_id}/withdrawals", status_code=202, response_model=Accepted,
                 summary="Withdraw a participant: no certificate afterwards (published as `withdrawn`)")  # fmt: skip
    async def withdraw(body: WithdrawalIn, program: Program = Depends(known)) -> Accepted:
        try:
            validate_nip(body.nip)
        except InvalidNip as e:
            raise HTTPException(422, [{"field": "nip", "message": str(e)}]) from None
        try:
            event = await handlers.withdraw(program.id, body.nip, body.reason, ports().roster, ports().publisher)
        except domain.NotEnrolled as e:
            raise HTTPException(404, str(e)) from None
        return Accepted(status="accepted", event_id=event.id)

    @router.get("/{program_id}/participants", summary="The roster, page by page")
    async def participants(program: Program = Depends(known), limit: int = Query(100, ge=1, le=1000),
                           offset: int = Query(0, ge=0)) -> dict:  # fmt: skip
        entries = await ports().roster.entries(program.id, limit, offset)
        return {
            "program_id": program.id,
            "total": await ports().roster.count(program.id),
            "participants": [
                {
                    **(e.participant.as_dict() if e.participant else {}),
                    "status": "withdrawn" if e.withdrawn else "enrolled",
                    "withdrawal_reason": e.withdrawal_reason,
                }
                for e in entries
            ],
        }

    @router.post(
        "/{program_id}/search", summary="Find participants by part of the name or the NIP (the query in the body)"
    )
    async def search(body: SearchIn, program: Program = Depends(known)) -> dict:
        wanted = " ".join(body.query.casefold().split())
        found, offset = [], 0
        # A cohort is a few thousand rows: a scan is simpler than a text index nx-27017 may not have.
        while page := await ports().roster.entries(program.id, 1000, offset):
            offset += len(page)
            for e in page:
                who = e.participant
                if who and (wanted in " ".join(who.name.casefold().split()) or who.nip.startswith(wanted)):
                    found.append({**who.as_dict(), "status": "withdrawn" if e.withdrawn else "enrolled"})
        found.sort(key=lambda p: p["name"].casefold())
        return {"program_id": program.id, "total": len(found), "participants": found[: body.limit]}

    return router


def _validated(model, values: dict, programs: Programs):
    try:
        return model.model_validate(values, context={"programs": programs})
    except ValidationError as e:
        details = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"].removeprefix("Value error, ")}
                   for err in e.errors(include_url=False)]  # fmt: skip
        raise HTTPException(422, details) from None
