"""PAdES signatures with pyHanko: sign the rendered PDF with the configured key, and tell
whether a PDF's signature is intact.

The key and certificate come from a PKCS#12 file (SIGNING_PKCS12_PATH, passphrase in
SIGNING_PKCS12_PASSPHRASE). The local run makes a self-signed one on first start
(`devstack.keys.make_self_signed`); a ministry deployment configures the bureau's real one. Signing is an
incremental update of the PDF/A document, as PDF/A-2 allows.
"""

import asyncio
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import tsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import attributes, fields, signers
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

FIELD = "TandaTanganBiroHumas"


@dataclass
class PdfSigner:
    pkcs12_path: Path
    passphrase: str

    def __post_init__(self):
        self._signer = signers.SimpleSigner.load_pkcs12(str(self.pkcs12_path), passphrase=self.passphrase.encode())
        if self._signer is None:
            raise ValueError(f"cannot load the signing key from {self.pkcs12_path} (wrong passphrase?)")
        self._trust = ValidationContext(trust_roots=[self._signer.signing_cert])
        self._signer.signed_attr_prov_spec = PadesSignedAttributes(self._signer.signing_cert)

    @property
    def subject(self) -> str:
        return _common_name(self._signer.signing_cert)

    def sign(self, pdf: bytes) -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason="Sertifikat Humas Level Up",
            location="Jakarta",
        )
        # A fixed reservation spares pyHanko a dummy signing pass to size it (about 40 % of the cost);
        # 16 kB holds a CMS with a chain of a few RSA-4096 certificates.
        signing = signers.PdfSigner(meta, signer=self._signer).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), bytes_reserved=16384
        )
        return _thread_loop().run_until_complete(signing).getvalue()

    def check(self, pdf: bytes) -> dict | None:
        return check_signature(pdf, self._trust)


_threads = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """pyHanko's synchronous `sign_pdf` starts and closes an event loop per document (about a
    tenth of the signing time); each worker thread keeps one loop for its signatures instead."""
    if (loop := getattr(_threads, "loop", None)) is None:
        loop = _threads.loop = asyncio.new_event_loop()
    return loop


class PadesSignedAttributes(attributes.SignedAttributeProviderSpec):
    """The signed attributes pyHanko gives a PAdES signature without a timestamper (only
    signing-certificate-v2; PAdES forbids signing-time), with that attribute encoded once.

    asn1crypto re-encodes a freshly built value on every access (nested SETs are re-sorted at
    each level): building it anew per document was about 60 % of the signing time."""

    def __init__(self, signing_cert):
        self._signing_certificate = _Preencoded(
            "signing_certificate_v2", as_signing_certificate_v2(signing_cert).dump(), tsp.SigningCertificateV2
        )

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str):
        yield self._signing_certificate


class _Preencoded(attributes.CMSAttributeProvider):
    def __init__(self, attribute_type: str, der: bytes, spec):
        self.attribute_type, self._der, self._spec = attribute_type, der, spec

    async def build_attr_value(self, dry_run=False):
        return self._spec.load(self._der)  # parsed lazily: encoding it again is a copy


def check_signature(pdf: bytes, trust: ValidationContext | None = None) -> dict | None:
    """{"intact", "valid", "trusted", "signer"} for the document's signature, None if unsigned.
    `trusted` means the signing certificate is the one this service signs with."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # not a PDF pyHanko can read: no signature to speak of
        return None
    if not signatures:
        return None
    # An untrusted (e.g. self-signed) signer is an answer, not an error: keep pyHanko quiet about it.
    logging.getLogger("pyhanko.sign.validation").setLevel(logging.CRITICAL)
    status = validate_pdf_signature(signatures[0], trust or ValidationContext(trust_roots=[]))
    return {
        "intact": bool(status.intact),
        "valid": bool(status.valid),
        "trusted": bool(status.trusted),
        "signer": _common_name(status.signing_cert) if status.signing_cert else None,
        "covers_whole_file": signatures[0].coverage.name == "ENTIRE_FILE",
    }


def _common_name(cert) -> str:
    return cert.subject.native.get("common_name") or cert.subject.human_friendly
