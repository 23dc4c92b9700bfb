"""Hostile XLSX rosters through the real roster API: a file of a few kilobytes that declares (or
references) a huge sheet, or unpacks to tens of megabytes, is refused quickly with a reason,
without the import ever holding the sheet in memory."""

import io
import time
import tracemalloc
import zipfile

import pytest
from pymongo import AsyncMongoClient

from services.enrollment.app import Settings, create_app
from shared.platform.auth import hash_key, new_key
from tests.support import Bus, running, unique

pytestmark = pytest.mark.integration
PROGRAM = "humas-level-up-2026"
KEY = new_key()
XLSX = {"X-API-Key": KEY, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
HEADER_ROW = '<row r="1">' + "".join(
    f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>' for col, name in zip("ABCD", ("nip", "nama", "jenjang", "unit_kerja"))
) + "</row>"  # fmt: skip
GOOD_ROW = ('<row r="2"><c r="A2" t="inlineStr"><is><t>198503122010011004</t></is></c><c r="B2" t="inlineStr"><is><t>Siti</t></is></c>'
            '<c r="C2" t="inlineStr"><is><t>ahli_pertama</t></is></c><c r="D2" t="inlineStr"><is><t>Biro Humas</t></is></c></row>')  # fmt: skip


def workbook(sheet_body: str, dimension: str | None = None, shared_strings: str | None = None) -> bytes:
    """A minimal XLSX written by hand (as an attacker would), so any size can be declared."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + (
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            if shared_strings is not None
            else ""
        )
        + "</Types>",
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{main}" xmlns:r="{rel}">'
        '<sheets><sheet name="Peserta" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            if shared_strings is not None
            else ""
        )
        + "</Relationships>",
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet xmlns="{main}">'
        + (f'<dimension ref="{dimension}"/>' if dimension else "")
        + f"<sheetData>{sheet_body}</sheetData></worksheet>",
    }
    if shared_strings is not None:
        parts["xl/sharedStrings.xml"] = f'<?xml version="1.0"?><sst xmlns="{main}">{shared_strings}</sst>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buffer.getvalue()


def _far_cell(ref: str) -> str:
    row = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>x</t></is></c></row>'


# Sized so that the code before the fix finishes (in hundreds of MB) instead of exhausting the
# machine: the real thing (A1:XFD1048576 with a cell in its far corner) would want terabytes.
HOSTILE = {
    "16,384 columns declared, a cell in row 1,000": workbook(
        HEADER_ROW + GOOD_ROW + _far_cell("XFD1000"), dimension="A1:XFD1000"
    ),
    "1,048,576 rows declared": workbook(HEADER_ROW + GOOD_ROW, dimension="A1:D1048576"),
    "a cell at row 1,048,576, nothing declared": workbook(HEADER_ROW + GOOD_ROW + _far_cell("A1048576")),
    "two million shared strings": workbook(
        HEADER_ROW + GOOD_ROW, shared_strings="<si><t>aaaaaaaaaa</t></si>" * 2_000_000
    ),
}


@pytest.fixture
async def service(amqp_url, mongodb_url):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                        operator_api_keys=f"budi:{hash_key(KEY)}")  # fmt: skip
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        roster = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]["participants"]
        yield http, bus, roster


def test_the_crafted_files_are_small():
    for case, content in HOSTILE.items():
        assert len(content) < 200_000, case
    assert len(HOSTILE["16,384 columns declared, a cell in row 1,000"]) < 2_000


@pytest.mark.parametrize("case", HOSTILE)
async def test_a_small_xlsx_declaring_a_huge_sheet_is_refused_quickly_in_little_memory(service, case):
    http, bus, roster = service
    enrolled = await bus.watch("enrolled")
    tracemalloc.start()
    try:
        started = time.monotonic()
        response = await http.post(f"/api/roster/{PROGRAM}/import", content=HOSTILE[case], headers=XLSX)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413, f"{case}: {response.status_code} {response.text[:300]}"
    assert "limit" in response.json()["detail"], response.text
    assert peak < 50 * 1024 * 1024, f"{case}: {peak / 2**20:.0f} MB at peak"
    assert elapsed < 5, f"{case}: {elapsed:.1f} s"
    assert await roster.count_documents({}) == 0 and await enrolled.collect() == []


async def test_the_same_hand_written_workbook_imports_when_it_is_honest(service):
    http, _, _ = service
    response = await http.post(
        f"/api/roster/{PROGRAM}/import?dry_run=true", content=workbook(HEADER_ROW + GOOD_ROW, "A1:D2"), headers=XLSX
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 1 and response.json()["new"] == 1
