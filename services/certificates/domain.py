"""What a certificate is and says: pure, no I/O."""

import datetime as dt
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from shared.contract.events import CertificateIssuedData, CertificateRevokedData, CompletedData
from shared.contract.nip import group_nip, mask_nip
from shared.contract.programs import Program

JAKARTA = ZoneInfo("Asia/Jakarta")
BULAN = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
JENJANG_WORDS = {
    "terampil": "Terampil",
    "mahir": "Mahir",
    "penyelia": "Penyelia",
    "ahli_pertama": "Ahli Pertama",
    "ahli_muda": "Ahli Muda",
    "ahli_madya": "Ahli Madya",
    "ahli_utama": "Ahli Utama",
}


def tanggal(day: dt.date | dt.datetime) -> str:
    """A date as written in Indonesian documents: 13 Februari 2026 (Jakarta time)."""
    if isinstance(day, dt.datetime):
        day = day.astimezone(JAKARTA).date()
    return f"{day.day} {BULAN[day.month - 1]} {day.year}"


def jabatan(jenjang: str) -> str:
    return f"Pranata Humas {JENJANG_WORDS[jenjang]}"


def format_number(program: Program, seq: int) -> str:
    return program.number_format.format(seq=seq, year=program.year)


def new_code() -> str:
    """The public code in the PDF and verify URLs: 128 random bits, no personal data."""
    return secrets.token_urlsafe(16)


_CODE = re.compile(r"[A-Za-z0-9_-]{22}")


def is_code(text: str) -> bool:
    """Only the shape `new_code` makes: anything else is unknown before the database is asked."""
    return bool(_CODE.fullmatch(text))


@dataclass(frozen=True)
class Certificate:
    certificate_id: str
    code: str
    program_id: str
    nip: str
    revision: int
    name: str
    jenjang: str
    unit_kerja: str
    sessions: tuple[int, ...]
    jp: int
    completed_at: dt.datetime
    issued_at: dt.datetime
    seq: int | None = None
    number: str | None = None
    sha256: str | None = None
    object_key: str | None = None
    status: str = "pending"  # pending → valid → revoked | superseded
    supersedes: str | None = None  # the certificate_id of the revision this one replaces
    superseded_by: str | None = None
    revoked_at: dt.datetime | None = None
    # Whether the PDF was rendered with a specimen signer (the CONTOH watermark): recorded at issue,
    # because the program file may name a real signer later while this PDF still says CONTOH.
    # None: issued before this was recorded; the program file then answers.
    specimen: bool | None = None

    @property
    def issued(self) -> bool:
        return self.sha256 is not None

    def numbered(self, program: Program, seq: int) -> "Certificate":
        return replace(self, seq=seq, number=format_number(program, seq))

    def object_key_for(self, sha256: str) -> str:
        # Content-addressed and free of personal data: a re-render never overwrites served bytes.
        return f"{self.program_id}/{self.certificate_id}/{sha256}.pdf"


STATUS_WORDS = {"valid": "sah", "revoked": "dicabut", "superseded": "digantikan", "pending": "dalam proses"}
CORRECTABLE = ("name", "jenjang", "unit_kerja")


class NotAllowed(ValueError):
    """An operator action this certificate's state does not allow (HTTP 409)."""


def draft(data: CompletedData, now: dt.datetime) -> Certificate:
    return Certificate(
        certificate_id=str(uuid.uuid4()),
        code=new_code(),
        program_id=data.program_id,
        nip=data.nip,
        revision=1,
        name=data.name,
        jenjang=data.jenjang,
        unit_kerja=data.unit_kerja,
        sessions=tuple(sorted(data.sessions)),
        jp=data.jp,
        completed_at=data.completed_at,
        issued_at=now,
    )


def completion_problem(data: CompletedData, program: Program) -> str | None:
    """Why the program's rule does not support this completion, or None if it does.

    A certificate states sessions and JP that count toward promotion, so a `completed` is checked
    against the program instead of being believed, whoever sent it.
    """
    sessions = data.sessions
    if outside := sorted({s for s in sessions if not 1 <= s <= program.session_count}):
        return f"sessions {outside} are outside 1..{program.session_count}"
    if len(set(sessions)) != len(sessions):
        return "sessions are listed more than once"
    if not program.completion.is_complete(set(sessions)):
        return f"{len(sessions)} sessions do not complete the program (it needs {program.completion.min_sessions})"
    if data.jp != (expected := program.jp_for(sessions)):
        return f"jp {data.jp} does not match the sessions (the program gives {expected})"
    return None


def revised(old: Certificate, corrections: dict, now: dt.datetime) -> Certificate:
    """The next revision after a correction of the holder's data: a new id and code, the same
    official number (it is the same certificate, corrected), issued now."""
    if old.status != "valid":
        raise NotAllowed(f"only a valid certificate can be re-issued; this one is {old.status}")
    unknown = set(corrections) - set(CORRECTABLE)
    if unknown:
        raise NotAllowed(f"cannot correct {sorted(unknown)}; correctable: {list(CORRECTABLE)}")
    if all(getattr(old, k) == v for k, v in corrections.items()):
        raise NotAllowed("the corrections change nothing")
    return replace(old, certificate_id=str(uuid.uuid4()), code=new_code(), revision=old.revision + 1,
                   issued_at=now, sha256=None, object_key=None, status="pending", supersedes=old.certificate_id,
                   superseded_by=None, revoked_at=None, specimen=None, **corrections)  # fmt: skip


def repeated_reissue(old: Certificate, corrections: dict, made: Certificate) -> None:
    """A re-issue of `old` that finds `made`, the revision already made from it (by an earlier or
    a concurrent request): the same correction is a repeat and finishes or returns `made`; other
    corrections would be lost silently, so they are refused (the first re-issue wins)."""
    unknown = set(corrections) - set(CORRECTABLE)
    if unknown:
        raise NotAllowed(f"cannot correct {sorted(unknown)}; correctable: {list(CORRECTABLE)}")
    if old.status not in ("valid", "superseded"):
        raise NotAllowed(f"only a valid certificate can be re-issued; this one is {old.status}")
    wanted = {k: corrections.get(k, getattr(old, k)) for k in CORRECTABLE}
    if differ := sorted(k for k, v in wanted.items() if getattr(made, k) != v):
        raise NotAllowed(f"this certificate is already re-issued as revision {made.revision} with other "
                         f"corrections ({', '.join(differ)} differ); re-issue that revision instead")  # fmt: skip


def revocable(cert: Certificate) -> None:
    if cert.status != "valid":
        raise NotAllowed(f"only a valid certificate can be revoked; this one is {cert.status}")


def revoked_data(cert: Certificate, reason: str, now: dt.datetime) -> CertificateRevokedData:
    return CertificateRevokedData(program_id=cert.program_id, nip=cert.nip, certificate_id=cert.certificate_id,
                                  reason=reason, revoked_at=now)  # fmt: skip


def revoked_event_id(cert: Certificate) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"humas:certificate-revoked:{cert.certificate_id}"))


@dataclass(frozen=True)
class Links:
    """Public URLs; the code is the only identifier in them."""

    base_url: str

    def pdf(self, code: str) -> str:
        return f"{self.base_url.rstrip('/')}/certificates/{code}.pdf"

    def verify(self, code: str) -> str:
        return f"{self.base_url.rstrip('/')}/verify/{code}"


def content(program: Program, cert: Certificate, links: Links) -> dict:
    """Everything printed on the certificate, as data for the template (never as markup)."""
    return {
        "number": cert.number,
        "name": cert.name,
        "nip": group_nip(cert.nip),
        "jabatan": jabatan(cert.jenjang),
        "unit_kerja": cert.unit_kerja,
        "program": program.title,
        "year": str(program.year),
        "sessions_attended": len(cert.sessions),
        "session_count": program.session_count,
        "jp": cert.jp,
        "place_date": f"{program.place}, {tanggal(cert.issued_at)}",
        "signer": {"name": program.signer.name, "nip": program.signer.nip or "", "title": program.signer.title},
        "specimen": program.signer.specimen if cert.specimen is None else cert.specimen,
        "verify_url": links.verify(cert.code),
        "code": cert.code,
        "revision": cert.revision,
    }


def issued_data(cert: Certificate, links: Links, credential_url: str | None = None) -> CertificateIssuedData:
    assert cert.number and cert.sha256
    return CertificateIssuedData(
        program_id=cert.program_id,
        nip=cert.nip,
        certificate_id=cert.certificate_id,
        number=cert.number,
        revision=cert.revision,
        url=links.pdf(cert.code),
        verify_url=links.verify(cert.code),
        sha256=cert.sha256,
        issued_at=cert.issued_at,
        **({"credential_url": credential_url} if credential_url else {}),
    )


def issued_event_id(cert: Certificate) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"humas:certificate-issued:{cert.certificate_id}:{cert.revision}"))


def public_view(program: Program | None, cert: Certificate, links: Links, current: Certificate | None = None) -> dict:
    """What the public verification page and its JSON show: name yes, full NIP and e-mail never.
    `current` is the revision that replaced a superseded one."""
    return {
        "status": cert.status,
        "status_word": STATUS_WORDS.get(cert.status, cert.status),
        "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else None,
        "revoked_on": tanggal(cert.revoked_at) if cert.revoked_at else None,
        "current_verify_url": links.verify(current.code) if current else None,
        "current_number": current.number if current else None,
        "certificate_id": cert.certificate_id,
        "number": cert.number,
        "program_id": cert.program_id,
        "program_title": program.title if program else cert.program_id,
        "name": cert.name,
        "nip": mask_nip(cert.nip),
        "jabatan": jabatan(cert.jenjang),
        "unit_kerja": cert.unit_kerja,
        "sessions": list(cert.sessions),
        "jp": cert.jp,
        "revision": cert.revision,
        "issued_at": cert.issued_at.isoformat(),
        "issued_on": tanggal(cert.issued_at),
        "sha256": cert.sha256,
        "url": links.pdf(cert.code),
        # While it is a specimen the PDF says CONTOH: the page must not call it official.
        "specimen": cert.specimen if cert.specimen is not None else bool(program and program.signer.specimen),
    }


# History: what happened to a revision, when, by whom and why, one entry per action, kept in
# the certificate's own record (`history.<action>`) and shown to operators oldest first.
# Times are ISO text in UTC (how the record stores times written by updates).


def _iso(at: dt.datetime | str) -> str:
    return at if isinstance(at, str) else at.astimezone(dt.UTC).isoformat()


def issued_entry(issued_at: dt.datetime, sha256: str) -> dict:
    return {"at": _iso(issued_at), "sha256": sha256}


def reissued_entry(old: Certificate, corrections: dict, reason: str, by: str, at: dt.datetime) -> dict:
    return {
        "at": _iso(at),
        "by": by,
        "reason": reason,
        "supersedes": old.certificate_id,
        "corrected": sorted(corrections),
    }


def revoked_entry(at: dt.datetime | str, by: str, reason: str) -> dict:
    return {"at": _iso(at), "by": by, "reason": reason}


def superseded_entry(new_id: str, revision: int, at: dt.datetime | str, by: str, reason: str) -> dict:
    """The old revision's end: made by the re-issue that wrote `new_id`, with its time, operator and reason."""
    return {"at": _iso(at), "by": by, "reason": reason, "by_revision": revision, "superseded_by": new_id}


def history(entries: dict | None) -> list[dict]:
    """The stored `history.<action>` entries as the operator reads them: oldest first."""
    return sorted(({"action": action, **entry} for action, entry in (entries or {}).items()), key=lambda e: e["at"])
