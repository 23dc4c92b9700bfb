"""Operator HTTP API of the certificate service (X-API-Key): list, detail and history, revoke,
re-issue, and a program's certificates as a streamed ZIP or as CSV for HR records."""

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from shared import contract
from shared.events import Text200
from shared.http import known_program
from shared.programs import Program, Programs

from . import domain, handlers

EXPORT_COLUMNS = ("nomor", "nip", "nama", "jenjang", "unit_kerja", "jp", "tanggal", "status", "revisi", "verify_url")


Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RevokeIn(BaseModel):
    reason: Text500 = Field(examples=["sertifikat diterbitkan karena kesalahan data"])


class ReissueIn(BaseModel):
    reason: Text500 = Field(examples=["perbaikan penulisan nama"])
    name: Text200 | None = Field(default=None, examples=["Siti Nur'aini, S.Sos."])  # the contract's name rule
    jenjang: str | None = Field(default=None, pattern="^(" + "|".join(contract.JENJANG) + ")$")
    unit_kerja: Text200 | None = None


def operator_router(programs: Programs, operator, state: dict, publish) -> APIRouter:
    """`publish(cert, routing_key, event)` sends what the outbox holds for that certificate."""
    router = APIRouter(prefix="/api/certificates", tags=["certificates (operators)"])
    guarded = [Depends(operator)]

    known = known_program(programs)

    def summary(cert: domain.Certificate) -> dict:
        links: domain.Links = state["issuing"].links
        return {
            "certificate_id": cert.certificate_id, "code": cert.code, "program_id": cert.program_id,
            "number": cert.number, "revision": cert.revision, "status": cert.status, "nip": cert.nip,
            "name": cert.name, "jenjang": cert.jenjang, "unit_kerja": cert.unit_kerja, "jp": cert.jp,
            "sessions": list(cert.sessions), "issued_at": cert.issued_at.isoformat(), "sha256": cert.sha256,
            "supersedes": cert.supersedes, "superseded_by": cert.superseded_by,
            "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else None,
            "url": links.pdf(cert.code), "verify_url": links.verify(cert.code),
        }  # fmt: skip

    @router.get("", dependencies=guarded, summary="Certificates, filtered and paged")
    async def list_certificates(
        program_id: str | None = None,
        status: str | None = Query(None, pattern="^(pending|valid|revoked|superseded)$"),
        jenjang: str | None = Query(None, pattern="^(" + "|".join(contract.JENJANG) + ")$"),
        unit_kerja: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict:
        filters = {"program_id": program_id, "status": status, "jenjang": jenjang, "unit_kerja": unit_kerja}
        total, certs = await state["repo"].find(filters, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "certificates": [summary(c) for c in certs]}

    @router.get("/{code}", dependencies=guarded, summary="One certificate with its history (who, when, why)")
    async def detail(code: str) -> dict:
        cert = await _cert(code)
        return {**summary(cert), "history": await state["repo"].history(cert.certificate_id)}

    @router.post("/{code}/revoke", summary="Revoke: status becomes revoked, `certificate.revoked` is published")
    async def revoke(code: str, body: RevokeIn, who: str = Depends(operator)) -> dict:
        await _cert(code)
        try:
            cert, event = await handlers.revoke_certificate(code, body.reason, who, state["issuing"])
        except domain.NotAllowed as e:
            raise HTTPException(409, str(e)) from None
        await publish(cert, contract.CERTIFICATE_REVOKED, event)
        return summary(cert)

    @router.post("/{code}/reissue", summary="Re-issue after a correction: a new revision and code; the old one is superseded")
    async def reissue(code: str, body: ReissueIn, who: str = Depends(operator)) -> dict:
        old = await _cert(code)
        corrections = body.model_dump(exclude={"reason"}, exclude_none=True)
        program = programs.get(old.program_id)
        try:
            cert, event = await handlers.reissue_certificate(code, corrections, body.reason, who, program, state["issuing"])
        except domain.NotAllowed as e:
            raise HTTPException(409, str(e)) from None
        if event is not None:
            await publish(cert, contract.CERTIFICATE_ISSUED, event)
        return summary(cert)

    @router.get("/export/{program_id}.csv", dependencies=guarded, summary="Issued certificates as CSV, for HR records")
    async def export_csv(program: Program = Depends(known),
                         status: str | None = Query("valid", pattern="^(valid|revoked|superseded)$")) -> StreamingResponse:  # fmt: skip
        program_id = program.id

        async def rows() -> AsyncIterator[str]:
            yield "\ufeff" + _csv_line(EXPORT_COLUMNS)  # BOM: Excel opens it as UTF-8
            links: domain.Links = state["issuing"].links
            async for c in state["repo"].each(program_id, status):
                yield _csv_line((c.number, c.nip, c.name, c.jenjang, c.unit_kerja, c.jp, domain.tanggal(c.issued_at),
                                 domain.STATUS_WORDS.get(c.status, c.status), c.revision, links.verify(c.code)))  # fmt: skip

        headers = {"Content-Disposition": f'attachment; filename="sertifikat-{program_id}.csv"'}
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)

    @router.get("/export/{program_id}.zip", dependencies=guarded, summary="Every valid certificate's PDF, as a streamed ZIP")
    async def export_zip(program: Program = Depends(known)) -> StreamingResponse:
        headers = {"Content-Disposition": f'attachment; filename="sertifikat-{program.id}.zip"'}
        return StreamingResponse(_zip(program.id), media_type="application/zip", headers=headers)

    async def _zip(program_id: str) -> AsyncIterator[bytes]:
        """One certificate at a time: fetched, written, handed on. Memory holds one PDF."""
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            async for cert in state["repo"].each(program_id, "valid"):
                pdf = await state["issuing"].store.get(cert.object_key)
                filename = f"{cert.number.replace('/', '-')}.pdf"  # the number, no personal data
                archive.writestr(zipfile.ZipInfo(filename, date_time=cert.issued_at.timetuple()[:6]), pdf)
                yield sink.take()
        yield sink.take()

    async def _cert(code: str) -> domain.Certificate:
        cert = await state["repo"].by_code(code) if domain.is_code(code) else None
        if cert is None:
            raise HTTPException(404, "unknown certificate")
        return cert

    return router


def _csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream: zipfile then writes data descriptors and we hand each
    chunk on as soon as it is written."""

    def __init__(self):
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        chunk, self._chunks = b"".join(self._chunks), []
        return chunk

