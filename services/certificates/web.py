"""Public HTTP: the PDF by URL and the verification page (HTML for people, JSON for machines),
with an upload form that says whether a PDF is byte-identical to the one issued. Rate-limited
per client; no credentials; the code is the only identifier in the URLs."""

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request as StarletteRequest

from shared.contract.programs import Programs, UnknownProgram
from shared.platform.http import RateLimit, read_body

from . import credentials, domain
from .bootstrap import Ports
from .signing import PdfSigner
from .storage import ObjectStore

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # an issued certificate is about 100 kB
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
}


class SignatureChecks:
    """For the verification page: is the stored document's signature intact? Checked on the
    bytes in the object store (so tampering there shows), remembered per document hash."""

    SIZE = 10_000

    def __init__(self, signer: PdfSigner):
        self._signer = signer
        self._known: dict[str, dict | None] = {}  # insertion-ordered: the oldest answer goes first when full

    async def __call__(self, cert: domain.Certificate, store: ObjectStore) -> dict | None:
        if cert.sha256 not in self._known:
            pdf = await store.get(cert.object_key)
            if len(self._known) >= self.SIZE:
                del self._known[next(iter(self._known))]
            self._known[cert.sha256] = await asyncio.to_thread(self._signer.check, pdf)
        return self._known[cert.sha256]


def public_router(
    programs: Programs,
    links: domain.Links,
    rate_limit: str,
    ports: Callable[[], Ports],
    signatures: SignatureChecks | None = None,
    with_credentials: bool = False,
) -> APIRouter:
    """`ports()`: the adapters, once the lifespan has connected them. `signatures(cert, store)`
    describes the PDF's digital signature for the page (None: unsigned)."""
    router = APIRouter(tags=["public"], dependencies=[Depends(RateLimit(rate_limit, "public"))])

    async def issued(code: str) -> domain.Certificate:
        cert = await ports().certificates.by_code(code) if domain.is_code(code) else None
        if cert is None or not cert.issued:
            raise HTTPException(404, "unknown certificate")
        return cert

    async def view(cert: domain.Certificate) -> dict:
        try:
            program = programs.get(cert.program_id)
        except UnknownProgram:
            program = None
        current = None
        if cert.superseded_by:
            current = await ports().certificates.by_id(cert.superseded_by)
        page = domain.public_view(program, cert, links, current)
        if signatures is not None:
            page["signature"] = await signatures(cert, ports().store)
        page["signature_text"] = _signature_text(page.get("signature"))
        if with_credentials:
            page["credential_url"] = credentials.CredentialLinks(links).jwt(cert.code)
            page["credential_json_url"] = credentials.CredentialLinks(links).json(cert.code)
        if cert.status == "valid":
            page["linkedin_url"] = credentials.linkedin_url(program, cert, links)
        return page

    @router.get("/certificates/{code}.pdf", response_class=Response, summary="The issued PDF, byte for byte")
    async def pdf(code: str) -> Response:
        cert = await issued(code)
        store: ObjectStore = ports().store
        body = await store.get(cert.object_key)
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "ETag": f'"{cert.sha256}"',
                "Cache-Control": "public, max-age=86400, immutable",
                "Content-Disposition": f'inline; filename="sertifikat-{cert.certificate_id}.pdf"',
            },
        )

    @router.get("/verify/{code}", summary="Verification: HTML, or JSON with Accept: application/json")
    async def verify(code: str, request: Request) -> Response:
        cert = await issued(code)
        page = await view(cert)
        if _wants_json(request.headers.get("accept", "")):
            return JSONResponse(page, headers={"Cache-Control": "no-store"})
        return HTMLResponse(_pages.get_template("verify.html").render(c=page), headers=SECURITY_HEADERS)

    @router.post(
        "/verify/{code}", summary="Is this PDF byte-identical to the issued one? (form field `pdf`, or the raw PDF)"
    )
    async def compare(code: str, request: Request) -> Response:
        cert = await issued(code)
        body = await read_body(request, MAX_UPLOAD_BYTES)
        content = await _uploaded_pdf(request, body)
        sha256 = hashlib.sha256(content).hexdigest()
        upload = {"identical": sha256 == cert.sha256, "sha256": sha256, "size": len(content)}
        page = await view(cert)
        if _wants_json(request.headers.get("accept", "")):
            return JSONResponse({**page, "upload": upload}, headers={"Cache-Control": "no-store"})
        return HTMLResponse(_pages.get_template("verify.html").render(c=page, upload=upload), headers=SECURITY_HEADERS)

    return router


async def _uploaded_pdf(request: Request, body: bytes) -> bytes:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    form = await StarletteRequest(request.scope, replay).form(max_files=1, max_fields=5)
    upload = form.get("pdf")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "expected a file in the form field `pdf`")
    return await upload.read()


def _signature_text(signature: dict | None) -> str:
    if not signature:
        return "tidak ada"
    if not signature.get("intact"):
        return "RUSAK: dokumen berubah setelah ditandatangani"
    who = signature.get("signer") or "penanda tangan"
    trust = "" if signature.get("trusted") else " (sertifikat penanda tangan belum terpercaya: contoh)"
    return f"utuh, ditandatangani oleh {who}{trust}"


def _wants_json(accept: str) -> bool:
    accept = accept.lower()
    return "application/json" in accept and "text/html" not in accept.split("application/json")[0]
