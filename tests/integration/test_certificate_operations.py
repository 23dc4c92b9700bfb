"""The certificate service's operator API and public pages, on the real servers: revoke,
re-issue with history, listing, ZIP and CSV exports, signed PDFs, upload comparison, limits."""

import asyncio
import csv
import hashlib
import io
import zipfile

import pytest
from pypdf import PdfReader

from services.certificates.app import create_app
from services.certificates.signing import check_signature
from shared.auth import hash_key, new_key
from tests.integration.test_certificates_service import completed, settings_for
from tests.support import Bus, running, unique

pytestmark = pytest.mark.integration
KEY = new_key()
AUTH = {"X-API-Key": KEY}
JSON = {"Accept": "application/json"}


@pytest.fixture
async def service(amqp_url, mongodb_url, s3, signing_key):
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(update={
        "operator_api_keys": f"rina:{hash_key(KEY)}", "signing_pkcs12_path": signing_key.path,
        "signing_pkcs12_passphrase": signing_key.passphrase, "public_rate_limit": "1000/minute"})  # fmt: skip
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        revoked = await bus.watch("certificate.revoked")
        for i in range(3):
            await bus.publish("completed", completed(i))
        await issued.until(lambda evts: len({e["id"] for e in evts}) == 3, what="three certificates")  # at least once
        yield http, issued, revoked


def code_of(data: dict) -> str:
    return data["verify_url"].rsplit("/", 1)[1]


async def test_issued_pdfs_are_signed_and_the_page_says_the_signature_is_intact(service):
    http, issued, _ = service
    data = issued.events[0]["data"]
    pdf = (await http.get(f"/certificates/{code_of(data)}.pdf")).content
    assert hashlib.sha256(pdf).hexdigest() == data["sha256"]
    signature = await asyncio.to_thread(check_signature, pdf)  # pyHanko runs its own event loop
    assert signature["intact"] and signature["valid"] and signature["covers_whole_file"]
    assert PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width > 800  # A4 landscape
    page = (await http.get(f"/verify/{code_of(data)}", headers=JSON)).json()
    assert page["signature"]["intact"] and page["signature"]["trusted"]
    html = (await http.get(f"/verify/{code_of(data)}")).text
    assert "Tanda tangan digital" in html and "utuh, ditandatangani oleh CONTOH" in html


async def test_the_upload_form_tells_identical_from_altered(service):
    http, issued, _ = service
    data = issued.events[0]["data"]
    pdf = (await http.get(f"/certificates/{code_of(data)}.pdf")).content
    same = await http.post(f"/verify/{code_of(data)}", files={"pdf": ("s.pdf", pdf, "application/pdf")})
    assert same.status_code == 200 and "Identik." in same.text
    altered = pdf.replace(b"/Producer", b"/Producex", 1)
    other = await http.post(f"/verify/{code_of(data)}", files={"pdf": ("s.pdf", altered, "application/pdf")})
    assert "Tidak identik." in other.text
    raw = await http.post(f"/verify/{code_of(data)}", content=pdf, headers={**JSON, "Content-Type": "application/pdf"})
    assert raw.json()["upload"]["identical"] is True
    big = await http.post(f"/verify/{code_of(data)}", content=b"x" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "application/pdf"})
    assert big.status_code == 413


async def test_revoke_then_the_page_says_dicabut_and_the_event_is_published(service):
    http, issued, revoked = service
    data = issued.events[1]["data"]
    code = code_of(data)
    assert (await http.post(f"/api/certificates/{code}/revoke", json={"reason": "salah data"})).status_code == 401
    response = await http.post(f"/api/certificates/{code}/revoke", json={"reason": "salah data"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    events = await revoked.until(lambda evts: len(evts) >= 1, what="certificate.revoked")
    assert events[0]["data"] | {"reason": "salah data", "certificate_id": data["certificate_id"]} == events[0]["data"]
    again = await http.post(f"/api/certificates/{code}/revoke", json={"reason": "lagi"}, headers=AUTH)
    assert again.status_code == 409
    page = await http.get(f"/verify/{code}")
    assert "DICABUT" in page.text and (await http.get(f"/verify/{code}", headers=JSON)).json()["status"] == "revoked"
    assert (await http.get(f"/certificates/{code}.pdf")).status_code == 200, "a revoked certificate stays fetchable"
    detail = (await http.get(f"/api/certificates/{code}", headers=AUTH)).json()
    assert [(h["action"], h.get("by")) for h in detail["history"]] == [("issued", None), ("revoked", "rina")]
    assert detail["history"][1]["reason"] == "salah data"


async def test_reissue_makes_a_new_revision_and_supersedes_the_old_one(service):
    http, issued, _ = service
    data = issued.events[2]["data"]
    old = code_of(data)
    response = await http.post(f"/api/certificates/{old}/reissue", json={"reason": "nama salah eja", "name": "Peserta Nomor Dua, S.Kom."}, headers=AUTH)
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["revision"] == 2 and new["code"] != old and new["number"] == data["number"] and new["status"] == "valid"
    events = await issued.until(lambda evts: any(e["data"]["revision"] == 2 for e in evts), what="the re-issue's event")
    assert [e["data"]["certificate_id"] for e in events if e["data"]["revision"] == 2][0] == new["certificate_id"]
    old_page = (await http.get(f"/verify/{old}", headers=JSON)).json()
    assert old_page["status"] == "superseded" and old_page["current_verify_url"].endswith(new["code"])
    assert "DIGANTIKAN" in (await http.get(f"/verify/{old}")).text
    new_pdf = (await http.get(f"/certificates/{new['code']}.pdf")).content
    assert "Peserta Nomor Dua, S.Kom." in PdfReader(io.BytesIO(new_pdf)).pages[0].extract_text()
    history = (await http.get(f"/api/certificates/{new['code']}", headers=AUTH)).json()["history"]
    assert history[0]["action"] == "reissued" and history[0]["by"] == "rina" and history[0]["reason"] == "nama salah eja"
    assert (await http.post(f"/api/certificates/{old}/reissue", json={"reason": "x", "name": "Y"}, headers=AUTH)).status_code == 409
    nothing = await http.post(f"/api/certificates/{new['code']}/reissue", json={"reason": "x"}, headers=AUTH)
    assert nothing.status_code == 409 and "change nothing" in nothing.text


async def test_listing_filters_and_exports(service):
    http, issued, _ = service
    listing = (await http.get("/api/certificates", params={"program_id": "humas-level-up-2026", "status": "valid"}, headers=AUTH)).json()
    assert listing["total"] == 3 and [c["number"] for c in listing["certificates"]] == sorted(c["number"] for c in listing["certificates"])
    assert (await http.get("/api/certificates", params={"status": "bogus"}, headers=AUTH)).status_code == 422
    csv_text = (await http.get("/api/certificates/export/humas-level-up-2026.csv", headers=AUTH)).text
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert len(rows) == 3 and set(rows[0]) >= {"nomor", "nip", "nama", "jenjang", "unit_kerja", "jp", "tanggal", "verify_url"}
    assert rows[0]["jp"] == "32" and rows[0]["verify_url"].startswith("http://service/verify/")
    async with http.stream("GET", "/api/certificates/export/humas-level-up-2026.zip", headers=AUTH) as response:
        assert response.headers["content-type"] == "application/zip"
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == sorted(f"{c['number'].replace('/', '-')}.pdf" for c in listing["certificates"])
    by_name = {e["data"]["number"].replace("/", "-") + ".pdf": e["data"]["sha256"] for e in issued.events}
    for name in archive.namelist():
        assert hashlib.sha256(archive.read(name)).hexdigest() == by_name[name]
    assert (await http.get("/api/certificates/export/unknown.zip", headers=AUTH)).status_code == 404


async def test_public_routes_are_rate_limited_with_retry_after(amqp_url, mongodb_url, s3):
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(update={"public_rate_limit": "5/minute"})
    async with running(create_app(settings)) as http:
        statuses = [(await http.get("/verify/AAAAAAAAAAAAAAAAAAAAAA")).status_code for _ in range(6)]
        assert statuses == [404] * 5 + [429]
        limited = await http.get("/certificates/AAAAAAAAAAAAAAAAAAAAAA.pdf")
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert (await http.get("/healthz")).status_code == 200, "health is not limited"
        page = await http.get("/healthz")
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"


async def test_operator_inputs_are_validated(service):
    http, issued, _ = service
    code = code_of(issued.events[0]["data"])
    blank = await http.post(f"/api/certificates/{code}/reissue", json={"reason": "x", "name": "   "}, headers=AUTH)
    assert blank.status_code == 422, "a blank name is refused like in the contract"
    assert (await http.post(f"/api/certificates/{code}/revoke", json={"reason": " "}, headers=AUTH)).status_code == 422
    assert (await http.post(f"/api/certificates/{code}/reissue", json={"reason": "x", "jenjang": "kepala"}, headers=AUTH)).status_code == 422
    assert (await http.get("/api/certificates/export/humas-level-up-2026.csv", params={"status": "x"}, headers=AUTH)).status_code == 422
    assert (await http.post("/api/certificates/AAAAAAAAAAAAAAAAAAAAAA/revoke", json={"reason": "x"}, headers=AUTH)).status_code == 404
    page = (await http.get(f"/verify/{code}", headers=JSON)).json()
    assert page["status"] == "valid", "nothing changed"
