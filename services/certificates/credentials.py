"""Open Badges 3.0 credentials and their revocation lists: pure content, no I/O, no keys.

A certificate revision becomes an OpenBadgeCredential (W3C VC Data Model 2.0 with the OB 3.0
context), signed elsewhere as a VC-JWT. Revocation is a W3C Bitstring Status List v1.0: one list
per program and revision generation (`/status/{program}/{revision}`), where a certificate's bit is
its number's sequence minus one. The index is therefore fixed by data the certificate already has
(no allocation to store or race on), and a re-issue (revision 2 of the same number) gets a bit of
its own in the next generation's list.
"""

import base64
import datetime as dt
import gzip
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from shared.contract.programs import Program

from .domain import Certificate, Links

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
# Bitstring Status List v1.0 §6.1: at least 16 KB (131,072 entries), so one holder's index does not
# single them out when a verifier fetches the list (herd privacy).
MIN_LIST_BITS = 131_072
STATUS_PURPOSE = "revocation"
ISSUER_NAME = "Biro Hubungan Masyarakat dan Komunikasi Publik, Sekretariat Jenderal Kementerian Agama RI"
ISSUER_HOME = "https://kemenag.go.id"
MEDIA_TYPE = "application/vc+jwt"
LINKEDIN_ORGANIZATION = "Kementerian Agama Republik Indonesia"


@dataclass(frozen=True)
class CredentialLinks:
    """The public URLs of the credential, its issuer and the status lists; the code, the program id
    and a revision number are the only identifiers in them."""

    links: Links

    @property
    def base(self) -> str:
        return self.links.base_url.rstrip("/")

    def jwt(self, code: str) -> str:
        return f"{self.base}/credentials/{code}.jwt"

    def json(self, code: str) -> str:
        return f"{self.base}/credentials/{code}.json"

    def issuer(self) -> str:
        return f"{self.base}/issuer"

    def jwks(self) -> str:
        return f"{self.base}/issuer/jwks.json"

    def status_list(self, program_id: str, revision: int) -> str:
        return f"{self.base}/status/{program_id}/{revision}"

    def achievement(self, program_id: str) -> str:
        # A stable name for the program's achievement; programs have no public page of their own.
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'humas:achievement:{program_id}')}"


def object_key(pdf_key: str) -> str:
    """The credential is stored beside its PDF, under the same personal-data-free name."""
    return pdf_key.removesuffix(".pdf") + ".jwt"


def status_index(cert: Certificate) -> int:
    assert cert.seq is not None
    return cert.seq - 1


def salted_nip(nip: str, salt: str) -> str:
    """The OB 3.0 IdentityObject hash: `sha256$` + hex SHA-256 of the identifier followed by the salt."""
    return "sha256$" + hashlib.sha256((nip + salt).encode()).hexdigest()


def new_salt() -> str:
    """Random per credential and never published: the public page shows 12 of the NIP's 18 digits,
    so with the salt anyone could find the other 6 in a few thousand hashes (the review's finding)."""
    return secrets.token_hex(16)


def issuer_profile(urls: CredentialLinks) -> dict:
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": urls.issuer(),
        "type": ["Profile"],
        "name": ISSUER_NAME,
        "url": ISSUER_HOME,
        # OB 3.0 verifiers find the keys of a VC-JWT through the JOSE header's `kid`; this names
        # the set for people and other tooling.
        "jwks_uri": urls.jwks(),
    }


def criteria(program: Program) -> str:
    return (f"Hadir pada sedikitnya {program.completion.min_sessions} dari {program.session_count} sesi "
            f"pelatihan ({program.jp_per_session} JP per sesi).")  # fmt: skip


SPECIMEN_MARK = "CONTOH (bukan sertifikat resmi)"


def _is_specimen(program: Program | None, cert: Certificate) -> bool:
    return cert.specimen if cert.specimen is not None else bool(program and program.signer.specimen)


def _marked(title: str, specimen: bool) -> str:
    """A specimen's credential, like its PDF, says so wherever a wallet or LinkedIn shows a name."""
    return f"{SPECIMEN_MARK}: {title}" if specimen else title


def credential(program: Program, cert: Certificate, links: Links, salt: str) -> dict:
    """The OpenBadgeCredential of one issued certificate revision (without its proof)."""
    assert cert.number
    specimen = _is_specimen(program, cert)
    urls = CredentialLinks(links)
    list_url = urls.status_list(cert.program_id, cert.revision)
    index = status_index(cert)
    sessions = sorted(cert.sessions)
    dates = [s.date for s in program.sessions if s.number in set(sessions)]
    issued = _iso(cert.issued_at)
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": urls.json(cert.code),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": _marked(f"Sertifikat {program.title}", specimen),
        "issuer": {"id": urls.issuer(), "type": ["Profile"], "name": ISSUER_NAME, "url": ISSUER_HOME},
        "validFrom": issued,
        "credentialSubject": {
            "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'humas:subject:{cert.certificate_id}')}",
            "type": ["AchievementSubject"],
            "name": cert.name,
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "identifier",
                    "hashed": True,
                    "identityHash": salted_nip(cert.nip, salt),
                }
            ],
            "creditsEarned": cert.jp,
            **({"activityStartDate": _iso_day(min(dates)), "activityEndDate": _iso_day(max(dates))} if dates else {}),
            "licenseNumber": cert.number,
            "achievement": {
                "id": urls.achievement(program.id),
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": _marked(program.title, specimen),
                "description": (f"{SPECIMEN_MARK}. " if specimen else "")
                + f"{program.title} ({program.year}): pelatihan {program.session_count} sesi "
                f"bagi Pranata Humas Kementerian Agama.",
                "criteria": {"narrative": criteria(program)},
                "creditsAvailable": program.jp_per_session * program.session_count,
                "fieldOfStudy": "Hubungan Masyarakat",
            },
        },
        "credentialStatus": {
            "id": f"{list_url}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": STATUS_PURPOSE,
            "statusListIndex": str(index),
            "statusListCredential": list_url,
        },
        "credentialSchema": [{"id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def jwt_claims(vc: dict) -> dict:
    """OB 3.0 §8.2.2 / VC-JOSE: the credential itself is the JWT payload, plus iss, jti, nbf and
    sub, and exp where it has a `validUntil` (the status lists). Its issuer is a Profile or a URL."""
    issuer = vc["issuer"]
    claims = {**vc, "iss": issuer["id"] if isinstance(issuer, dict) else issuer, "jti": vc["id"],
              "nbf": _epoch(vc["validFrom"]), "sub": vc["credentialSubject"]["id"]}  # fmt: skip
    if "validUntil" in vc:
        claims["exp"] = _epoch(vc["validUntil"])
    return claims


def _epoch(moment: str) -> int:
    return int(dt.datetime.fromisoformat(moment).timestamp())


def encode_list(indices, bits: int = MIN_LIST_BITS) -> str:
    """Bitstring Status List v1.0 §4: GZIP of the bitstring (index 0 is the first byte's most
    significant bit), base64url without padding, with the multibase prefix `u`."""
    size = max(bits, -(-(max(indices, default=-1) + 1) // 8) * 8)
    buffer = bytearray(size // 8)
    for i in indices:
        buffer[i // 8] |= 0x80 >> (i % 8)
    # mtime=0: the same set of bits gives the same bytes.
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(buffer), mtime=0)).decode().rstrip("=")


def decode_list(encoded: str) -> bytes:
    """The inverse of `encode_list`, as a verifier does it (for tests and checks)."""
    assert encoded.startswith("u")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def bit(bitstring: bytes, index: int) -> bool:
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(urls: CredentialLinks, program_id: str, revision: int, revoked_indices,
                           now: dt.datetime) -> dict:  # fmt: skip
    url = urls.status_list(program_id, revision)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": urls.issuer(),
        # A few minutes back, so a verifier whose clock is a little behind does not see "not yet
        # valid"; valid a day, so an old copy cannot hide a later revocation for ever.
        "validFrom": _iso(now - STATUS_LIST_SKEW),
        "validUntil": _iso(now + STATUS_LIST_LIFETIME),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": STATUS_PURPOSE,
            "encodedList": encode_list(revoked_indices),
        },
    }


STATUS_LIST_SKEW = dt.timedelta(minutes=5)
STATUS_LIST_LIFETIME = dt.timedelta(days=1)


def linkedin_url(program: Program | None, cert: Certificate, links: Links) -> str:
    """LinkedIn's documented add-to-profile link (Add to Profile for certifications)."""
    issued = cert.issued_at.astimezone(dt.UTC)
    return "https://www.linkedin.com/profile/add?" + urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": _marked(program.title if program else cert.program_id, _is_specimen(program, cert)),
            "organizationName": LINKEDIN_ORGANIZATION,
            "issueYear": issued.year,
            "issueMonth": issued.month,
            "certUrl": links.verify(cert.code),
            "certId": cert.number or "",
        }
    )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_day(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
