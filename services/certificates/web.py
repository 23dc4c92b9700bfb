"""Public HTTP: the PDF by URL and the verification page (HTML for people, JSON for machines)."""

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.programs import Programs, UnknownProgram

from . import domain
from .repository import CertificateRepository
from .storage import ObjectStore

_CODE = re.compile(r"[A-Za-z0-9_-]{22}")
_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def public_router(programs: Programs, links: domain.Links) -> APIRouter:
    """Routes read the adapters from app.state, where the lifespan puts them once connected."""
    router = APIRouter(tags=["public"])

    async def issued(request: Request, code: str) -> domain.Certificate:
        certificates: CertificateRepository = request.app.state.certificates
        cert = await certificates.by_code(code) if _CODE.fullmatch(code) else None
        if cert is None or not cert.issued:
            raise HTTPException(404, "unknown certificate")
        return cert

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
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/verify/{code}", summary="Verification: HTML, or JSON with Accept: application/json")
    async def verify(code: str, request: Request) -> Response:
        cert = await issued(request, code)
        try:
            program = programs.get(cert.program_id)
        except UnknownProgram:
            program = None
        view = domain.public_view(program, cert, links)
        if _wants_json(request.headers.get("accept", "")):
            return JSONResponse(view, headers={"Cache-Control": "no-store"})
        page = _pages.get_template("verify.html").render(c=view)
        return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    return router


def _wants_json(accept: str) -> bool:
    accept = accept.lower()
    return "application/json" in accept and "text/html" not in accept.split("application/json")[0]
