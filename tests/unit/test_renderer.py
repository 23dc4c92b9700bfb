"""The real template through real Typst: what the PDF says, and that names stay text."""

import datetime as dt
import io
import json

import pytest
import typst
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from services.certificates import domain
from services.certificates.renderer import TEMPLATES, TypstRenderer, qr_svg
from shared.contract.events import CompletedData
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NOW = dt.datetime(2026, 10, 9, 3, tzinfo=dt.UTC)
LINKS = domain.Links("http://127.0.0.1:8000")


def certificate(name: str, nip: str = "198503122010011004") -> domain.Certificate:
    data = CompletedData(program_id=PROGRAM.id, nip=nip, name=name, jenjang="ahli_pertama",
                         unit_kerja="Kantor Kementerian Agama Kota Yogyakarta", sessions=list(range(1, 15)), jp=28,
                         completed_at=NOW)  # fmt: skip
    return domain.draft(data, NOW).numbered(PROGRAM, 42)


@pytest.fixture(scope="module")
def renderer():
    return TypstRenderer()


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_one_page_pdf_with_name_nip_number_and_jp(renderer):
    cert = certificate("Dra. Hj. Siti Nur'aini, M.Si.")
    pdf = renderer.render_sync(PROGRAM.template, domain.content(PROGRAM, cert, LINKS), cert.issued_at)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert width > height, "A4 landscape"
    text = "".join(text_of(pdf).split())  # letter-spaced headings extract with spaces
    for expected in ("SERTIFIKAT", "Siti Nur", "19850312 201001 1 004", "0042/BH/HUMAS-LU/2026", "28 jam pelajaran",
                     "Pranata Humas Ahli Pertama", "Jakarta, 9 Oktober 2026", "CONTOH", cert.code):  # fmt: skip
        assert "".join(expected.split()) in text, expected
    assert b"pdfaid:part" in pdf, "PDF/A identification in the XMP metadata"


def test_same_certificate_renders_to_the_same_bytes(renderer):
    cert = certificate("Ahmad Fauzi")
    content = domain.content(PROGRAM, cert, LINKS)
    assert renderer.render_sync(PROGRAM.template, content, NOW) == renderer.render_sync(PROGRAM.template, content, NOW)


@pytest.mark.parametrize(
    "name",
    [
        '#set text(red) *bold* _x_ $x^2$ @ref <label> \\ "quote" `raw`',
        "Ni Luh Putu Ayu Ḍewi Šārmā",
        "O'Brien & <b>Co</b>",
    ],
)
def test_names_are_printed_as_text_never_interpreted(renderer, name):
    cert = certificate(name)
    text = text_of(renderer.render_sync(PROGRAM.template, domain.content(PROGRAM, cert, LINKS), NOW))
    squashed = "".join(text.split())
    for fragment in ("#settext(red)", "*bold*", "$x^2$", "<label>", "O'Brien&<b>Co</b>", "Šārmā"):
        if fragment.replace(" ", "") in "".join(name.split()):
            assert fragment in squashed, fragment


def test_the_printed_qr_code_reads_as_the_verify_url():
    """The page rasterised by Typst, then read by a QR decoder, as a phone would."""
    cert = certificate("Ahmad Fauzi, S.Sos.")
    content = domain.content(PROGRAM, cert, LINKS)
    compiler = typst.Compiler(str(TEMPLATES / PROGRAM.template), root=str(TEMPLATES))
    data = json.dumps({**content, "qr_svg": qr_svg(content["verify_url"])})
    page = Image.open(io.BytesIO(compiler.compile(format="png", ppi=150, sys_inputs={"data": data})))
    assert [(b.format, b.text) for b in zxingcpp.read_barcodes(page)] == [
        (zxingcpp.BarcodeFormat.QRCode, LINKS.verify(cert.code))
    ]


def test_a_template_outside_the_template_folder_is_refused(renderer):
    with pytest.raises(ValueError, match="outside"):
        renderer.render_sync("../../../shared/contract/__init__.py", {"verify_url": "x"}, NOW)


def test_save_a_picture_of_the_certificate(artefacts):
    cert = certificate("Dr. Muhammad Rizki Syahputra, S.Sos.I., M.I.Kom.")
    content = domain.content(PROGRAM, cert, LINKS)
    data = json.dumps({**content, "qr_svg": qr_svg(content["verify_url"])})
    png = typst.compile(str(TEMPLATES / PROGRAM.template), format="png", ppi=110, sys_inputs={"data": data})
    (artefacts / "certificate.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_a_200_character_name_stays_on_one_page_and_is_printed_whole(renderer, artefacts):
    name = ("Prof. Dr. Hj. Ni Luh Putu Ayu Ḍewi Šārmā Kusumawardhani Siti Nurhaliza binti Abdurrahman "
            "Al-Banjari O'Connor-Wijayakusuma, S.Sos.I., M.I.Kom., M.Si., Ph.D., CPR., CPM. ")  # fmt: skip
    name = (name * 2)[:200].strip()
    assert len(name) >= 199
    cert = certificate(name)
    pdf = renderer.render_sync(PROGRAM.template, domain.content(PROGRAM, cert, LINKS), NOW)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1, "no overflow onto a second page"
    assert "".join(name.split()) in "".join(text_of(pdf).split())
    content = domain.content(PROGRAM, cert, LINKS)
    data = json.dumps({**content, "qr_svg": qr_svg(content["verify_url"])})
    png = typst.compile(str(TEMPLATES / PROGRAM.template), format="png", ppi=80, sys_inputs={"data": data})
    (artefacts / "certificate-long-name.png").write_bytes(png)
