"""Public HTTP: the PDF by URL and the verification page (HTML for people, JSON for machines),
with an upload form that says whether a PDF is byte-identical to the one issued. Rate-limited
per client; no credentials; the code is the only identifier in the URLs."""

import hashlib
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request as StarletteRequest

from shared.http import RateLimit, read_body
from shared.programs import Programs, UnknownProgram

from . import credentials, domain
from .repository import CertificateRepository
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


def public_router(programs: Programs, links: domain.Links, rate_limit: str, signatures=None,
                  with_credentials: bool = False) -> APIRouter:
    """Routes read the adapters from app.state, where the lifespan puts them once connected.
    `signatures(cert, pdf)` describes the PDF's digital signature for the page (None: unsigned)."""
    router = APIRouter(tags=["public"], dependencies=[Depends(RateLimit(rate_limit, "public"))])

    async def issued(request: Request, code: str) -> domain.Certificate:
        certificates: CertificateRepository = request.app.state.certificates
        cert = await certificates.by_code(code) if domain.is_code(code) else None
        if cert is None or not cert.issued:
            raise HTTPException(404, "unknown certificate")
        return cert

    async def view(request: Request, cert: domain.Certificate) -> dict:
        try:
            program = programs.get(cert.program_id)
        except UnknownProgram:
            program = None
        current = None
        if cert.superseded_by:
            current = await request.app.state.certificates.by_id(cert.superseded_by)
        page = domain.public_view(program, cert, links, current)
        if signatures is not None:
            page["signature"] = await signatures(cert, request.app.state.store)
        page["signature_text"] = _signature_text(page.get("signature"))
        if with_credentials:
            page["credential_url"] = credentials.CredentialLinks(links).jwt(cert.code)
            page["credential_json_url"] = credentials.CredentialLinks(links).json(cert.code)
        if cert.status == "valid":
            page["linkedin_url"] = credentials.linkedin_url(program, cert, links)
        return page

    @router.get("/certificates/{code}.pdf", response_class=Response, summary="The issued PDF, byte for byte")
    async def pdf(code: str, request: Request) -> Response:
        cert = await issued(request, code)
        store: ObjectStore = request.app.state.store
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
        cert = await issued(request, code)
        page = await view(request, cert)
        if _wants_json(request.headers.get("accept", "")):
            return JSONResponse(page, headers={"Cache-Control": "no-store"})
        return HTMLResponse(_pages.get_template("verify.html").render(c=page), headers=SECURITY_HEADERS)

    @router.post("/verify/{code}", summary="Is this PDF byte-identical to the issued one? (form field `pdf`, or the raw PDF)")
    async def compare(code: str, request: Request) -> Response:
        cert = await issued(request, code)
        body = await read_body(request, MAX_UPLOAD_BYTES)
        content = await _uploaded_pdf(request, body)
        sha256 = hashlib.sha256(content).hexdigest()
        upload = {"identical": sha256 == cert.sha256, "sha256": sha256, "size": len(content)}
        page = await view(request, cert)
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
