"""Renders a certificate to PDF/A with Typst.

The participant's data reaches the template as JSON through `sys.inputs`, so a name holding
`#`, `*`, `$` or `<` is text, never markup. One compiler per template is kept and reused
(about 6× faster than compiling from scratch); Typst compiles are serialised by a lock.
"""

import asyncio
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Protocol

import typst
import zxingcpp

TEMPLATES = Path(__file__).parent / "templates"
PDF_STANDARD = "a-2b"
# PDF/A-3 is PDF/A-2 plus embedded files of any type: the Open Badges credential travels inside.
PDF_STANDARD_WITH_CREDENTIAL = "a-3b"


class Renderer(Protocol):
    async def render(self, template: str, content: dict, timestamp: dt.datetime) -> bytes: ...

    async def render_with_credential(
        self, template: str, content: dict, timestamp: dt.datetime, claims: dict, keys
    ) -> tuple[bytes, str]:
        """The PDF with the credential (signed from `claims` with `keys`) embedded, and that VC-JWT:
        one hop to the renderer's worker (thread or process) for both. A process pool signs with
        the same keys, handed to its workers when they start (render_pool.py)."""


def render_with_credential_sync(render_sync, template: str, content: dict, timestamp: dt.datetime, claims: dict,
                                keys) -> tuple[bytes, str]:  # fmt: skip
    """Sign the credential, then render the PDF that embeds it, where the rendering runs (a worker
    thread, or a render worker process): one hop there for both."""
    jwt = content["credential"] = keys.sign(claims)
    return render_sync(template, content, timestamp), jwt


def qr_svg(url: str) -> str:
    """The QR code (error correction M) as SVG, without a quiet zone: the template leaves the margin.
    zxing-cpp encodes in C++ in about 0.1 ms; segno's pure-Python mask choice took 2-5 ms, about
    an eighth of the certificate service's CPU per certificate."""
    code = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    return code.to_svg(add_quiet_zones=False)


class _InThreads:
    """The async side of a renderer whose `render_sync` runs in a worker thread."""

    def render_sync(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        raise NotImplementedError

    async def render(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        return await asyncio.to_thread(self.render_sync, template, content, timestamp)

    async def render_with_credential(self, template: str, content: dict, timestamp: dt.datetime, claims: dict,
                                     keys) -> tuple[bytes, str]:  # fmt: skip
        return await asyncio.to_thread(render_with_credential_sync, self.render_sync, template, content, timestamp,
                                       claims, keys)  # fmt: skip


class TypstRenderer(_InThreads):
    def __init__(self, templates: Path = TEMPLATES):
        self._templates = templates
        self._compilers: dict[str, typst.Compiler] = {}
        self._lock = threading.Lock()

    def render_sync(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        data = json.dumps({**content, "qr_svg": qr_svg(content["verify_url"])}, ensure_ascii=False)
        with self._lock:
            compiler = self._compilers.get(template)
            if compiler is None:
                path = (self._templates / template).resolve()
                if self._templates.resolve() not in path.parents:
                    raise ValueError(f"template {template!r} is outside {self._templates}")
                compiler = self._compilers[template] = typst.Compiler(str(path), root=str(self._templates))
            # A fixed timestamp (the issue time) makes the bytes reproducible.
            standard = PDF_STANDARD_WITH_CREDENTIAL if content.get("credential") else PDF_STANDARD
            return compiler.compile(
                sys_inputs={"data": data}, pdf_standards=standard, timestamp=int(timestamp.timestamp())
            )


class SignedRenderer(_InThreads):
    """Renders, then signs (PAdES): what is stored and served is the signed document."""

    def __init__(self, renderer: TypstRenderer, signer):
        self._renderer = renderer
        self._signer = signer

    def render_sync(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        return self._signer.sign(self._renderer.render_sync(template, content, timestamp))
