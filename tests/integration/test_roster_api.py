"""The enrollment service's operator API on the real servers: import, edit, withdraw."""

import io

import pytest
from pymongo import AsyncMongoClient

from services.enrollment.app import Settings, create_app
from shared.platform.auth import hash_key, new_key
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
PROGRAM = "humas-level-up-2026"
KEY = new_key()
HEADERS = {"X-API-Key": KEY, "Content-Type": "text/csv"}

ROSTER = """nip;nama;jenjang;unit kerja;email
198503122010011004;Dr. Siti Nur'aini, S.Sos., M.I.Kom.;Ahli Pertama;Biro Humas;siti@example.go.id
199001012015032001;Dewi Lestari, S.I.Kom.;ahli_muda;Kanwil Kemenag Provinsi Jawa Barat;
197805172005011002;Ahmad <b>Fauzi</b> & Co;Ahli Madya;Kankemenag Kota Bandung;
"""


@pytest.fixture
async def service(amqp_url, mongodb_url):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                        operator_api_keys=f"budi:{hash_key(KEY)}")  # fmt: skip
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        roster = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]["participants"]
        yield http, bus, roster


async def test_import_dry_run_then_real_then_again_is_a_no_op(service):
    http, bus, roster = service
    enrolled = await bus.watch("enrolled")
    dry = await http.post(f"/api/roster/{PROGRAM}/import?dry_run=true", content=ROSTER, headers=HEADERS)
    assert dry.status_code == 200, dry.text
    assert dry.json()["errors"] == [] and dry.json()["new"] == 3 and dry.json()["published"] == 0
    assert await roster.count_documents({}) == 0, "a dry run changes nothing"

    real = await http.post(f"/api/roster/{PROGRAM}/import", content=ROSTER, headers=HEADERS)
    assert real.status_code == 200 and real.json()["published"] == 3
    await eventually(lambda: _count(roster, 3), what="the three rows in the roster")
    events = await enrolled.until(lambda evts: len(evts) >= 3, what="three enrolled events")
    assert {e["source"] for e in events} == {"/services/enrollment"}
    stored = await roster.find_one({"nip": "198503122010011004"})
    assert stored["name"] == "Dr. Siti Nur'aini, S.Sos., M.I.Kom." and stored["jenjang"] == "ahli_pertama"

    again = await http.post(f"/api/roster/{PROGRAM}/import", content=ROSTER, headers=HEADERS)
    assert again.json()["unchanged"] == 3 and again.json()["published"] == 0, "re-import is idempotent"
    changed = ROSTER.replace("Biro Humas;", "Biro Hubungan Masyarakat;")
    update = await http.post(f"/api/roster/{PROGRAM}/import", content=changed, headers=HEADERS)
    assert update.json()["updated"] == 1 and update.json()["published"] == 1
    await eventually(lambda: _field(roster, "198503122010011004", "unit_kerja", "Biro Hubungan Masyarakat"))
    assert await roster.count_documents({}) == 3


async def test_rows_with_errors_are_reported_and_nothing_is_imported(service):
    http, _, roster = service
    bad = ROSTER + "19850312201001100X;Salah;ahli_pertama;Biro Humas;\n198503122010011004;Dup;ahli_muda;X;\n"
    response = await http.post(f"/api/roster/{PROGRAM}/import", content=bad, headers=HEADERS)
    assert response.status_code == 422
    report = response.json()
    assert report["published"] == 0 and report["accepted"] == 3 and report["rejected"] == 2
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(5, "nip"), (6, "nip")]
    assert "18 digits" in report["errors"][0]["message"] and "row 2" in report["errors"][1]["message"]
    partial = await http.post(f"/api/roster/{PROGRAM}/import?accept_valid_rows=true", content=bad, headers=HEADERS)
    assert partial.status_code == 200 and partial.json()["published"] == 3
    await eventually(lambda: _count(roster, 3), what="the valid rows only")


async def test_manual_add_update_and_withdrawal(service):
    http, bus, roster = service
    withdrawn = await bus.watch("withdrawn")
    person = {"nip": "199001012015032001", "name": "Dewi Lestari", "jenjang": "ahli_muda", "unit_kerja": "Biro Humas"}
    url = f"/api/roster/{PROGRAM}/participants"
    assert (await http.put(url, json=person, headers={"X-API-Key": KEY})).status_code == 202
    await eventually(lambda: _count(roster, 1))
    unchanged = await http.put(url, json=person, headers={"X-API-Key": KEY})
    assert unchanged.json()["status"] == "unchanged"
    renamed = await http.put(url, json={**person, "name": "Dewi Lestari, M.Si."}, headers={"X-API-Key": KEY})
    assert renamed.json()["status"] == "accepted"
    await eventually(lambda: _field(roster, person["nip"], "name", "Dewi Lestari, M.Si."))

    out = await http.post(f"/api/roster/{PROGRAM}/withdrawals", json={"nip": person["nip"], "reason": "mutasi"},
                          headers={"X-API-Key": KEY})  # fmt: skip
    assert out.status_code == 202
    events = await withdrawn.until(lambda evts: len(evts) == 1, what="the withdrawn event")
    assert events[0]["type"] == "humas.withdrawn.v1" and events[0]["data"]["reason"] == "mutasi"
    await eventually(lambda: _field(roster, person["nip"], "withdrawal_reason", "mutasi"))
    refused = await http.put(url, json={**person, "name": "Lagi"}, headers={"X-API-Key": KEY})
    assert refused.status_code == 409 and "withdrawal is final" in refused.json()["detail"]
    listing = await http.get(f"/api/roster/{PROGRAM}/participants", headers={"X-API-Key": KEY})
    assert listing.json()["participants"][0]["status"] == "withdrawn"


async def _count(roster, n: int) -> bool:
    return await roster.count_documents({"name": {"$exists": True}}) == n


async def _field(roster, nip: str, name: str, value) -> bool:
    doc = await roster.find_one({"nip": nip})
    return doc is not None and doc.get(name) == value


async def test_an_xlsx_roster_imports_like_the_csv(service):
    from openpyxl import Workbook

    http, _, roster = service
    workbook = Workbook()
    sheet = workbook.active
    for line in ROSTER.strip().splitlines():
        sheet.append(line.split(";"))
    sheet.append([None, None, None, None, None])  # a blank row at the end, as spreadsheets have
    buffer = io.BytesIO()
    workbook.save(buffer)
    xlsx = {"X-API-Key": KEY, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    response = await http.post(f"/api/roster/{PROGRAM}/import", content=buffer.getvalue(), headers=xlsx)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 3 and response.json()["published"] == 3
    await eventually(lambda: _count(roster, 3), what="the workbook's three rows")
