"""issue_certificate: each step is idempotent, so a redelivered or concurrent `completed`
resumes where the last attempt stopped and never makes a second certificate or number."""

import datetime as dt
import hashlib
from dataclasses import dataclass

from shared import contract
from shared.events import CloudEvent, CompletedData, new_event
from shared.programs import Program

from . import domain
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


async def issue_certificate(
    data: CompletedData, program: Program, deps: Issuing, now: dt.datetime | None = None
) -> tuple[domain.Certificate, CloudEvent | None]:
    """The certificate, and the `certificate.issued` event when this call stored it."""
    cert = await deps.certificates.add_or_get(domain.draft(data, now or dt.datetime.now(dt.UTC)))
    if cert.issued:
        return cert, None
    cert = await deps.certificates.assign_number(cert, program)
    pdf = await deps.renderer.render(program.template, domain.content(program, cert, deps.links), cert.issued_at)
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = cert.object_key_for(sha256)
    await deps.store.put(key, pdf, "application/pdf")
    issued = domain.issued_data(domain.replace(cert, sha256=sha256), deps.links)
    event = new_event(
        contract.CERTIFICATE_ISSUED, SOURCE, issued, id=domain.issued_event_id(cert), time=cert.issued_at
    )
    stored = await deps.certificates.mark_issued(cert, sha256, key, event)
    return stored, event if stored.sha256 == sha256 else None
