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
from services.certificates.repository import MongoCertificates
from services.certificates.signing import check_signature
from shared.platform.auth import hash_key, new_key
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
    big = await http.post(
        f"/verify/{code_of(data)}", content=b"x" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "application/pdf"}
    )
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
    response = await http.post(
        f"/api/certificates/{old}/reissue",
        json={"reason": "nama salah eja", "name": "Peserta Nomor Dua, S.Kom."},
        headers=AUTH,
    )
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
    assert (
        history[0]["action"] == "reissued" and history[0]["by"] == "rina" and history[0]["reason"] == "nama salah eja"
    )
    assert (
        await http.post(f"/api/certificates/{old}/reissue", json={"reason": "x", "name": "Y"}, headers=AUTH)
    ).status_code == 409
    nothing = await http.post(f"/api/certificates/{new['code']}/reissue", json={"reason": "x"}, headers=AUTH)
    assert nothing.status_code == 409 and "change nothing" in nothing.text


class Crash(Exception):
    """The process dies here."""


async def exported_numbers(http) -> tuple[list[str], list[str]]:
    """The numbers in the CSV export and the file names in the ZIP export of valid certificates."""
    csv_text = (await http.get("/api/certificates/export/humas-level-up-2026.csv", headers=AUTH)).text
    numbers = [row["nomor"] for row in csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))]
    async with http.stream("GET", "/api/certificates/export/humas-level-up-2026.zip", headers=AUTH) as response:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    return numbers, zipfile.ZipFile(io.BytesIO(body)).namelist()


async def test_a_reissue_that_crashes_before_superseding_never_shows_two_valid_revisions(service, monkeypatch):
    http, issued, _ = service
    data = issued.events[0]["data"]
    old = code_of(data)
    body = {"reason": "nama salah eja", "name": "Peserta Nomor Nol, S.Sos."}

    async def crash(*args, **kwargs):
        raise Crash("between storing the new revision and superseding the old one")

    with monkeypatch.context() as patch:
        patch.setattr(MongoCertificates, "mark_superseded", crash)
        with pytest.raises(Crash):
            await http.post(f"/api/certificates/{old}/reissue", json=body, headers=AUTH)

    listing = (
        await http.get(
            "/api/certificates", params={"program_id": "humas-level-up-2026", "status": "valid"}, headers=AUTH
        )
    ).json()
    numbers = [c["number"] for c in listing["certificates"]]
    assert listing["total"] == 3 and len(set(numbers)) == 3, f"one valid revision per number: {numbers}"
    new = next(c for c in listing["certificates"] if c["number"] == data["number"])
    assert new["revision"] == 2 and new["name"] == body["name"]
    old_page = (await http.get(f"/verify/{old}", headers=JSON)).json()
    assert old_page["status"] == "superseded" and old_page["current_verify_url"].endswith(new["code"])
    assert (await http.get(f"/verify/{new['code']}", headers=JSON)).json()["status"] == "valid"
    csv_numbers, zip_names = await exported_numbers(http)
    assert sorted(csv_numbers) == sorted(numbers) and len(zip_names) == len(set(zip_names)) == 3

    retry = await http.post(f"/api/certificates/{old}/reissue", json=body, headers=AUTH)
    assert retry.status_code == 200, retry.text
    assert (retry.json()["certificate_id"], retry.json()["revision"]) == (new["certificate_id"], 2), "the same revision"
    other = await http.post(f"/api/certificates/{old}/reissue", json={**body, "name": "Nama Lain"}, headers=AUTH)
    assert other.status_code == 409 and "other corrections" in other.text
    detail = (await http.get(f"/api/certificates/{old}", headers=AUTH)).json()
    assert detail["status"] == "superseded" and detail["superseded_by"] == new["certificate_id"]
    assert (
        detail["history"][-1] | {"action": "superseded", "by": "rina", "reason": "nama salah eja"}
        == detail["history"][-1]
    )
    # The crashed request never published; the outbox relay does, once.
    events = await issued.until(lambda evts: any(e["data"]["revision"] == 2 for e in evts), what="the re-issue's event")
    assert [e["data"]["certificate_id"] for e in events if e["data"]["revision"] == 2] == [new["certificate_id"]]


async def test_concurrent_reissues_the_first_correction_wins_and_a_different_one_is_refused(service):
    http, issued, _ = service
    a, b = code_of(issued.events[1]["data"]), code_of(issued.events[2]["data"])

    async def reissue(code: str, name: str):
        return await http.post(
            f"/api/certificates/{code}/reissue", json={"reason": "ejaan", "name": name}, headers=AUTH
        )

    first, second = await asyncio.gather(reissue(a, "Nama Versi Satu"), reissue(a, "Nama Versi Dua"))
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert "other corrections" in loser.json()["detail"]
    current = (await http.get(f"/api/certificates/{winner.json()['code']}", headers=AUTH)).json()
    assert current["status"] == "valid" and current["name"] == winner.json()["name"]
    assert (await http.get(f"/verify/{a}", headers=JSON)).json()["current_verify_url"].endswith(current["code"])

    same = await asyncio.gather(reissue(b, "Nama Yang Sama"), reissue(b, "Nama Yang Sama"))
    assert [r.status_code for r in same] == [200, 200], [r.text for r in same]
    assert same[0].json()["certificate_id"] == same[1].json()["certificate_id"], "one revision, answered twice"
    late = await reissue(b, "Nama Yang Sama")
    assert late.status_code == 200 and late.json()["certificate_id"] == same[0].json()["certificate_id"]
    listing = (await http.get("/api/certificates", params={"program_id": "humas-level-up-2026"}, headers=AUTH)).json()
    assert sorted((c["revision"], c["status"]) for c in listing["certificates"]) == [
        (1, "superseded"), (1, "superseded"), (1, "valid"), (2, "valid"), (2, "valid")]  # fmt: skip


async def test_listing_filters_and_exports(service):
    http, issued, _ = service
    listing = (
        await http.get(
            "/api/certificates", params={"program_id": "humas-level-up-2026", "status": "valid"}, headers=AUTH
        )
    ).json()
    assert listing["total"] == 3 and [c["number"] for c in listing["certificates"]] == sorted(
        c["number"] for c in listing["certificates"]
    )
    assert (await http.get("/api/certificates", params={"status": "bogus"}, headers=AUTH)).status_code == 422
    csv_text = (await http.get("/api/certificates/export/humas-level-up-2026.csv", headers=AUTH)).text
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert len(rows) == 3 and set(rows[0]) >= {
        "nomor",
        "nip",
        "nama",
        "jenjang",
        "unit_kerja",
        "jp",
        "tanggal",
        "verify_url",
    }
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
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(
        update={"public_rate_limit": "5/minute"}
    )
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
    assert (
        await http.post(f"/api/certificates/{code}/reissue", json={"reason": "x", "jenjang": "kepala"}, headers=AUTH)
    ).status_code == 422
    assert (
        await http.get("/api/certificates/export/humas-level-up-2026.csv", params={"status": "x"}, headers=AUTH)
    ).status_code == 422
    assert (
        await http.post("/api/certificates/AAAAAAAAAAAAAAAAAAAAAA/revoke", json={"reason": "x"}, headers=AUTH)
    ).status_code == 404
    page = (await http.get(f"/verify/{code}", headers=JSON)).json()
    assert page["status"] == "valid", "nothing changed"
