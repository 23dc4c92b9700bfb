"""PAdES signing with the pre-encoded signing-certificate attribute: the same signature
pyHanko makes by default, valid, and tampering shows."""

import io

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from services.certificates import domain
from services.certificates.renderer import TypstRenderer
from services.certificates.signing import FIELD, PdfSigner, check_signature

from .test_renderer import LINKS, PROGRAM, certificate


@pytest.fixture(scope="module")
def rendered() -> bytes:
    cert = certificate("Ahmad Fauzi, S.Sos.")
    return TypstRenderer().render_sync(PROGRAM.template, domain.content(PROGRAM, cert, LINKS), cert.issued_at)


@pytest.fixture(scope="module")
def signer(signing_key) -> PdfSigner:
    return PdfSigner(signing_key.path, signing_key.passphrase)


def signer_info(pdf: bytes) -> cms.SignerInfo:
    signature = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[0]
    return signature.signed_data["signer_infos"][0]


def attribute(pdf: bytes, name: str):
    return next(a["values"][0].native for a in signer_info(pdf)["signed_attrs"] if a["type"].native == name)


def pyhanko_default(pdf: bytes, signing_key) -> bytes:
    plain = signers.SimpleSigner.load_pkcs12(str(signing_key.path), passphrase=signing_key.passphrase.encode())
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), meta, signer=plain).getvalue()


def test_signed_document_is_intact_valid_and_trusted(rendered, signer):
    status = check_signature(signer.sign(rendered), signer._trust)
    assert status == {"intact": True, "valid": True, "trusted": True, "signer": signer.subject,
                      "covers_whole_file": True}  # fmt: skip


def test_signed_attributes_are_pyhankos_own(rendered, signer, signing_key):
    ours = signer_info(signer.sign(rendered))["signed_attrs"]
    default = signer_info(pyhanko_default(rendered, signing_key))["signed_attrs"]
    assert [a["type"].native for a in ours] == [a["type"].native for a in default]
    by_type = {a["type"].native: a["values"].dump() for a in default}
    assert {a["type"].native: a["values"].dump() for a in ours}["signing_certificate_v2"] == by_type[
        "signing_certificate_v2"
    ]


def test_each_document_gets_its_own_digest(rendered, signer):
    other = certificate("Siti Aminah").numbered(PROGRAM, 43)
    second = TypstRenderer().render_sync(PROGRAM.template, domain.content(PROGRAM, other, LINKS), other.issued_at)
    digests = [attribute(signer.sign(pdf), "message_digest") for pdf in (rendered, second)]
    assert digests[0] != digests[1]


def test_a_changed_byte_breaks_the_signature(rendered, signer):
    signed = bytearray(signer.sign(rendered))
    at = signed.index(b"Ahmad Fauzi") if b"Ahmad Fauzi" in signed else len(signed) // 3
    signed[at] ^= 0x01
    status = check_signature(bytes(signed), signer._trust)
    assert status is None or not status["intact"]
