"""Operator HTTP API of the certificate service (X-API-Key): list, detail and history, revoke,
re-issue, and a program's certificates as a streamed ZIP or as CSV for HR records."""

import io
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from shared import contract
from shared.contract.events import Text200
from shared.contract.programs import Program, Programs
from shared.platform.csvsafe import csv_line
from shared.platform.http import known_program

from . import domain, handlers
from .bootstrap import Ports

SIASN_COLUMNS = ("nip", "namaKursus", "institusiPenyelenggara", "jenisKursus", "jumlahJam", "nomorSertipikat",
                 "tahunKursus", "tanggalKursus", "tanggalSelesaiKursus")  # fmt: skip
EXPORT_COLUMNS = ("nomor", "nip", "nama", "jenjang", "unit_kerja", "jp", "tanggal", "status", "revisi", "verify_url")


Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class SearchIn(BaseModel):
    program_id: str
    nip: str = Field(pattern=r"^[0-9]{18}$")


class RevokeIn(BaseModel):
    reason: Text500 = Field(examples=["sertifikat diterbitkan karena kesalahan data"])


class ReissueIn(BaseModel):
    reason: Text500 = Field(examples=["perbaikan penulisan nama"])
    name: Text200 | None = Field(default=None, examples=["Siti Nur'aini, S.Sos."])  # the contract's name rule
    jenjang: str | None = Field(default=None, pattern="^(" + "|".join(contract.JENJANG) + ")$")
    unit_kerja: Text200 | None = None


def operator_router(programs: Programs, operator, ports: Callable[[], Ports], publish) -> APIRouter:
    """`publish(cert, routing_key, event)` sends what the outbox holds for that certificate."""
    router = APIRouter(prefix="/api/certificates", tags=["certificates (operators)"])
    guarded = [Depends(operator)]

    known = known_program(programs)

    def summary(cert: domain.Certificate) -> dict:
        links = ports().links
        return {
            "certificate_id": cert.certificate_id,
            "code": cert.code,
            "program_id": cert.program_id,
            "number": cert.number,
            "revision": cert.revision,
            "status": cert.status,
            "nip": cert.nip,
            "name": cert.name,
            "jenjang": cert.jenjang,
            "unit_kerja": cert.unit_kerja,
            "jp": cert.jp,
            "sessions": list(cert.sessions),
            "issued_at": cert.issued_at.isoformat(),
            "sha256": cert.sha256,
            "supersedes": cert.supersedes,
            "superseded_by": cert.superseded_by,
            "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else None,
            "url": links.pdf(cert.code),
            "verify_url": links.verify(cert.code),
        }

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
        total, certs = await ports().certificates.find(filters, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "certificates": [summary(c) for c in certs]}

    @router.get("/{code}", dependencies=guarded, summary="One certificate with its history (who, when, why)")
    async def detail(code: str) -> dict:
        cert = await _cert(code)
        return {**summary(cert), "history": await ports().certificates.history(cert.certificate_id)}

    @router.post("/{code}/revoke", summary="Revoke: status becomes revoked, `certificate.revoked` is published")
    async def revoke(code: str, body: RevokeIn, who: str = Depends(operator)) -> dict:
        cert = await _cert(code)
        try:
            cert, event = await handlers.revoke_certificate(cert, body.reason, who, ports().issuing)
        except domain.NotAllowed as e:
            raise HTTPException(409, str(e)) from None
        await publish(cert, contract.CERTIFICATE_REVOKED, event)
        return summary(cert)

    @router.post(
        "/{code}/reissue", summary="Re-issue after a correction: a new revision and code; the old one is superseded"
    )
    async def reissue(code: str, body: ReissueIn, who: str = Depends(operator)) -> dict:
        old = await _cert(code)
        corrections = body.model_dump(exclude={"reason"}, exclude_none=True)
        program = programs.get(old.program_id)
        try:
            cert, event = await handlers.reissue_certificate(
                old, corrections, body.reason, who, program, ports().issuing
            )
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
            links = ports().links
            async for c in ports().certificates.each(program_id, status):
                yield _csv_line((c.number, c.nip, c.name, c.jenjang, c.unit_kerja, c.jp, domain.tanggal(c.issued_at),
                                 domain.STATUS_WORDS.get(c.status, c.status), c.revision, links.verify(c.code)))  # fmt: skip

        headers = {"Content-Disposition": f'attachment; filename="sertifikat-{program_id}.csv"'}
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)

    @router.get(
        "/export/{program_id}.zip", dependencies=guarded, summary="Every valid certificate's PDF, as a streamed ZIP"
    )
    async def export_zip(program: Program = Depends(known)) -> StreamingResponse:
        headers = {"Content-Disposition": f'attachment; filename="sertifikat-{program.id}.zip"'}
        return StreamingResponse(_zip(program.id), media_type="application/zip", headers=headers)

    async def _zip(program_id: str) -> AsyncIterator[bytes]:
        """One certificate at a time: fetched, written, handed on. Memory holds one PDF."""
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            async for cert in ports().certificates.each(program_id, "valid"):
                pdf = await ports().store.get(cert.object_key)
                filename = f"{cert.number.replace('/', '-')}.pdf"  # the number, no personal data
                archive.writestr(zipfile.ZipInfo(filename, date_time=cert.issued_at.timetuple()[:6]), pdf)
                yield sink.take()
        yield sink.take()

    @router.post("/search", dependencies=guarded, summary="One participant's certificates (the NIP in the body)")
    async def search(body: SearchIn) -> dict:
        total, certs = await ports().certificates.find({"program_id": body.program_id, "nip": body.nip}, 100, 0)
        return {"total": total, "certificates": [summary(c) for c in certs]}

    @router.get(
        "/timeline/{program_id}", dependencies=guarded, summary="For the console: issues per minute and status counts"
    )
    async def timeline(program: Program = Depends(known)) -> dict:
        per_minute: Counter = Counter()
        status: Counter = Counter()
        async for c in ports().certificates.each(program.id, None):
            status[c.status] += 1
            if c.revision == 1 and c.issued:  # a re-issue is not a new certificate
                per_minute[c.issued_at.astimezone(domain.JAKARTA).strftime("%Y-%m-%dT%H:%M")] += 1
        return {"program_id": program.id, "status": dict(status), "issued_per_minute": dict(sorted(per_minute.items()))}

    @router.get("/export/{program_id}/siasn.{fmt}", dependencies=guarded,
                summary="Valid certificates as BKN SIASN course records (riwayat kursus), CSV or JSON")  # fmt: skip
    async def export_siasn(fmt: str, program: Program = Depends(known)):
        if fmt not in ("csv", "json"):
            raise HTTPException(404, "siasn.csv or siasn.json")
        if program.siasn is None:
            raise HTTPException(409, f"program {program.id!r} has no [siasn] section in its program file")
        rows = [_siasn_row(program, c) async for c in ports().certificates.each(program.id, "valid")]
        filename = f"siasn-{program.id}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if fmt == "json":
            return JSONResponse(rows, headers=headers)
        lines = ["\ufeff" + _csv_line(SIASN_COLUMNS)] + [
            _csv_line(_csv_safe(r[k]) for k in SIASN_COLUMNS) for r in rows
        ]
        return Response("".join(lines), media_type="text/csv; charset=utf-8", headers=headers)

    async def _cert(code: str) -> domain.Certificate:
        cert = await ports().certificates.by_code(code) if domain.is_code(code) else None
        if cert is None:
            raise HTTPException(404, "unknown certificate")
        return cert

    return router


def _siasn_row(program: Program, c: domain.Certificate) -> dict:
    ddmmyyyy = "%d-%m-%Y"  # SIASN's date format
    return {"nip": c.nip, "namaKursus": f"{program.title} {program.year}",
            "institusiPenyelenggara": program.siasn.institusi_penyelenggara, "jenisKursus": program.siasn.jenis_kursus,
            "jumlahJam": c.jp, "nomorSertipikat": c.number, "tahunKursus": program.sessions[0].date.year,
            "tanggalKursus": program.sessions[0].date.strftime(ddmmyyyy),
            "tanggalSelesaiKursus": program.sessions[-1].date.strftime(ddmmyyyy)}  # fmt: skip


def _csv_safe(value):
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading
    apostrophe (OWASP's CSV injection advice); numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_line(values) -> str:
    # Names and units come from upstream: a cell like "=HYPERLINK(...)" must stay text in Excel.
    return csv_line(values)


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
