"""issue_certificate: each step is idempotent, so a redelivered or concurrent `completed`
resumes where the last attempt stopped and never makes a second certificate or number.
revoke_certificate and reissue_certificate are the operator's actions, recorded in history."""

import datetime as dt
import hashlib
from dataclasses import dataclass

from shared import contract
from shared.contract.events import CloudEvent, CompletedData, new_event
from shared.contract.programs import Program

from . import credentials, domain
from .issuer_keys import IssuerKeys
from .renderer import Renderer
from .repository import CertificateRepository
from .storage import ObjectStore

SOURCE = "/services/certificates"


@dataclass
class Issuing:
    certificates: CertificateRepository
    renderer: Renderer
    store: ObjectStore
    links: domain.Links
    credential_keys: IssuerKeys | None = None  # with them, each revision gets its Open Badges credential


async def issue_certificate(
    data: CompletedData, program: Program, deps: Issuing, now: dt.datetime | None = None
) -> tuple[domain.Certificate, CloudEvent | None]:
    """The certificate, and the `certificate.issued` event when this call stored it."""
    cert = await deps.certificates.add_numbered(domain.draft(data, now or dt.datetime.now(dt.UTC)), program)
    return await _finish(cert, program, deps)


async def _finish(cert: domain.Certificate, program: Program, deps: Issuing):
    """Number (first revision only), render, store, mark issued: resumable at every step."""
    if cert.issued:
        return cert, None
    cert = domain.replace(await deps.certificates.assign_number(cert, program), specimen=program.signer.specimen)
    content = domain.content(program, cert, deps.links)
    jwt = None
    if deps.credential_keys is not None:
        # Signed before rendering, so the PDF carries it (an embedded file, inside the PAdES signature).
        vc = credentials.credential(program, cert, deps.links, credentials.new_salt())
        claims = credentials.jwt_claims(vc)
        pdf, jwt = await deps.renderer.render_with_credential(
            program.template, content, cert.issued_at, claims, deps.credential_keys
        )
    else:
        pdf = await deps.renderer.render(program.template, content, cert.issued_at)
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = cert.object_key_for(sha256)
    await deps.store.put(key, pdf, "application/pdf")
    credential_url = credentials.CredentialLinks(deps.links).jwt(cert.code) if jwt is not None else None
    issued = domain.issued_data(domain.replace(cert, sha256=sha256), deps.links, credential_url)
    event = new_event(contract.CERTIFICATE_ISSUED, SOURCE, issued, id=domain.issued_event_id(cert), time=cert.issued_at)
    stored = await deps.certificates.mark_issued(cert, sha256, key, event, credential=jwt)
    return stored, event if stored.sha256 == sha256 else None


async def revoke_certificate(cert: domain.Certificate, reason: str, by: str, deps: Issuing,
                             now: dt.datetime | None = None) -> tuple[domain.Certificate, CloudEvent]:  # fmt: skip
    domain.revocable(cert)
    data = domain.revoked_data(cert, reason, now or dt.datetime.now(dt.UTC))
    event = new_event(
        contract.CERTIFICATE_REVOKED, SOURCE, data, id=domain.revoked_event_id(cert), time=data.revoked_at
    )
    return await deps.certificates.revoke(cert, reason, by, event), event


async def reissue_certificate(
    old: domain.Certificate,
    corrections: dict,
    reason: str,
    by: str,
    program: Program,
    deps: Issuing,
    now: dt.datetime | None = None,
) -> tuple[domain.Certificate, CloudEvent | None]:
    """A new revision with the corrected data; the old one becomes superseded. A repeat (or a
    retry after a crash) finishes or returns the same revision: there is only ever one revision
    after a given one (its holder key is unique). Other corrections than that revision's: 409."""
    new = await deps.certificates.successor(old)
    if new is None:
        now = now or dt.datetime.now(dt.UTC)
        draft = domain.revised(old, corrections, now)
        history = {"reissued": domain.reissued_entry(old, corrections, reason, by, now)}
        new = await deps.certificates.add_or_get(draft, history)  # a concurrent re-issue's, if it came first
    domain.repeated_reissue(old, corrections, new)
    await deps.certificates.begin_supersede(old, new)
    new, event = await _finish(new, program, deps)
    await deps.certificates.mark_superseded(old, new, by, reason)
    return new, event
