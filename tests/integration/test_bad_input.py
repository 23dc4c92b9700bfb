"""Every row of the bad-input tables against running services on the real servers: a clear
rejection (dead letter with its reason, or HTTP 4xx with a reason), nothing stored, nothing
published, and the service goes on with the good input that follows."""

import io
import zipfile

import pytest
from pymongo import AsyncMongoClient

from devstack.upstream import cloud_event
from services.attendance.app import Settings as AttendanceSettings
from services.attendance.app import create_app as attendance_app
from services.certificates.app import create_app as certificates_app
from services.enrollment.app import Settings as EnrollmentSettings
from services.enrollment.app import create_app as enrollment_app
from services.enrollment.roster_file import MAX_BYTES
from shared import contract
from shared.contract import REASON_HEADER
from shared.platform.auth import hash_key, new_key
from tests.bad_inputs import MESSAGES, NIP, P
from tests.integration.test_certificates_service import settings_for
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
GOOD_NIP = "199001012015032001"


async def test_every_bad_message_is_dead_lettered_with_its_reason_and_nothing_is_applied(amqp_url, mongodb_url):
    settings = AttendanceSettings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"))
    async with running(attendance_app(settings)), Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        for _, routing_key, raw, _ in MESSAGES:
            await bus.publish(routing_key, raw)
        good = {"program_id": P, "nip": GOOD_NIP, "name": "Dewi", "jenjang": "ahli_muda", "unit_kerja": "Biro Humas"}
        await bus.publish("enrolled", cloud_event("enrolled", good))
        for session in range(1, 17):
            await bus.publish(
                "attended", cloud_event("attended", {"program_id": P, "nip": GOOD_NIP, "session": session})
            )

        dead = []
        for routing_key in (contract.ENROLLED, contract.ATTENDED, contract.WITHDRAWN):
            expected = sum(1 for m in MESSAGES if m[1] == routing_key)
            dead += await bus.dead_letters(f"attendance.{routing_key}", expected=expected)
        reason_by_body = {m.body: m.headers[REASON_HEADER] for m in dead}
        for case, _, raw, reason in MESSAGES:
            assert reason in reason_by_body[raw], f"{case}: {reason_by_body[raw]!r} should say {reason!r}"

        events = await completed.until(lambda evts: len(evts) >= 1, what="the good participant's completion")
        assert [e["data"]["nip"] for e in events] == [GOOD_NIP], "the service went on with the good input"
        participants = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["participants"]
        assert await participants.count_documents({"nip": NIP}) == 0, "nothing of a bad message was applied"


KEY = new_key()
AUTH = {"X-API-Key": KEY}
CSV = {**AUTH, "Content-Type": "text/csv"}
HEADER = "nip,nama,jenjang,unit_kerja\n"
ROW = "198503122010011004,Siti Aminah,ahli_pertama,Biro Humas\n"
IMPORT = f"/api/roster/{P}/import"
PEOPLE = f"/api/roster/{P}/participants"
PERSON = {"nip": "198503122010011004", "name": "Siti", "jenjang": "ahli_pertama", "unit_kerja": "Biro Humas"}


def _xlsx_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return buffer.getvalue()


# (case, method, path, request arguments, status, reason in the response)
ENROLLMENT_HTTP = [
    ("no API key", "POST", IMPORT, {"content": HEADER + ROW, "headers": {"Content-Type": "text/csv"}}, 401, "API key"),
    ("wrong API key", "POST", IMPORT, {"content": HEADER + ROW, "headers": {"X-API-Key": "hlu_guess"}}, 401, "API key"),
    (
        "unknown program",
        "POST",
        "/api/roster/other/import",
        {"content": HEADER + ROW, "headers": CSV},
        404,
        "unknown program",
    ),
    (
        "csv not UTF-8",
        "POST",
        IMPORT,
        {"content": (HEADER + "198503122010011004,Jos\xe9,ahli_pertama,X\n").encode("latin-1"), "headers": CSV},
        400,
        "not UTF-8",
    ),
    ("csv empty", "POST", IMPORT, {"content": b"", "headers": CSV}, 400, "empty"),
    ("csv with NUL bytes", "POST", IMPORT, {"content": b"nip\x00,nama\n", "headers": CSV}, 400, "NUL"),
    (
        "csv missing column",
        "POST",
        IMPORT,
        {"content": "nip,nama,jenjang\n" + ROW, "headers": CSV},
        400,
        "missing column(s): unit_kerja",
    ),
    (
        "csv unterminated quote",
        "POST",
        IMPORT,
        {"content": HEADER + '198503122010011004,"Siti,ahli_pertama,X\n', "headers": CSV},
        400,
        "malformed CSV",
    ),
    (
        "csv oversized",
        "POST",
        IMPORT,
        {"content": HEADER + ROW * (MAX_BYTES // len(ROW) + 1), "headers": CSV},
        413,
        "exceeds the limit",
    ),
    (
        "xlsx not a workbook",
        "POST",
        IMPORT,
        {
            "content": b"PK\x03\x04 nonsense",
            "headers": {**AUTH, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        },
        400,
        "XLSX",
    ),
    (
        "xlsx zip without a workbook",
        "POST",
        IMPORT,
        {
            "content": _xlsx_without_workbook(),
            "headers": {**AUTH, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        },
        400,
        "XLSX",
    ),
    (
        "row with a bad NIP",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("1004,", "100X,"), "headers": CSV},
        422,
        "18 digits",
    ),
    (
        "row with an impossible birth date",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("19850312", "19850230"), "headers": CSV},
        422,
        "birth date",
    ),
    (
        "row with an unknown jenjang",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("ahli_pertama", "kepala"), "headers": CSV},
        422,
        "jenjang",
    ),
    (
        "row with a blank name",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("Siti Aminah", " "), "headers": CSV},
        422,
        "name",
    ),
    (
        "row with a 201-character name",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("Siti Aminah", "x" * 201), "headers": CSV},
        422,
        "at most 200",
    ),
    (
        "row with too many cells",
        "POST",
        IMPORT,
        {"content": HEADER + ROW.replace("\n", ",extra\n"), "headers": CSV},
        422,
        "cells for 4 columns",
    ),
    (
        "row repeating a NIP",
        "POST",
        IMPORT,
        {"content": HEADER + ROW + ROW.replace("Siti", "Sita"), "headers": CSV},
        422,
        "the same NIP as row 2",
    ),
    (
        "row missing cells",
        "POST",
        IMPORT,
        {"content": HEADER + "198503122010011004,Siti\n", "headers": CSV},
        422,
        "jenjang",
    ),
    (
        "participant with a bad NIP",
        "PUT",
        PEOPLE,
        {"json": {**PERSON, "nip": "1985"}, "headers": AUTH},
        422,
        "18 digits",
    ),
    ("participant missing fields", "PUT", PEOPLE, {"json": {"nip": PERSON["nip"]}, "headers": AUTH}, 422, "name"),
    (
        "participant not JSON",
        "PUT",
        PEOPLE,
        {"content": b"{nope", "headers": {**AUTH, "Content-Type": "application/json"}},
        422,
        "JSON",
    ),
    (
        "participant body too big",
        "PUT",
        PEOPLE,
        {"json": {**PERSON, "name": "x" * 300}, "headers": AUTH},
        422,
        "at most 200",
    ),
    (
        "withdrawal of nobody",
        "POST",
        f"/api/roster/{P}/withdrawals",
        {"json": {"nip": PERSON["nip"], "reason": "x"}, "headers": AUTH},
        404,
        "no such participant",
    ),
    (
        "withdrawal without reason",
        "POST",
        f"/api/roster/{P}/withdrawals",
        {"json": {"nip": PERSON["nip"], "reason": ""}, "headers": AUTH},
        422,
        "reason",
    ),
    (
        "withdrawal with a bad NIP",
        "POST",
        f"/api/roster/{P}/withdrawals",
        {"json": {"nip": "x", "reason": "r"}, "headers": AUTH},
        422,
        "18 digits",
    ),
    ("listing with a negative offset", "GET", PEOPLE, {"params": {"offset": -1}, "headers": AUTH}, 422, "offset"),
]


async def test_every_bad_http_request_is_refused_with_a_reason_and_changes_nothing(amqp_url, mongodb_url):
    settings = EnrollmentSettings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                                  operator_api_keys=f"ops:{hash_key(KEY)}")  # fmt: skip
    async with running(enrollment_app(settings)) as http, Bus(amqp_url) as bus:
        published = [await bus.watch(rk) for rk in (contract.ENROLLED, contract.WITHDRAWN)]
        for case, method, path, kwargs, status, reason in ENROLLMENT_HTTP:
            response = await http.request(method, path, **kwargs)
            assert response.status_code == status, f"{case}: {response.status_code} {response.text[:300]}"
            assert reason in response.text, f"{case}: {response.text[:300]!r} should say {reason!r}"
        # Then a good request works, and only its event was published.
        ok = await http.put(PEOPLE, json=PERSON, headers=AUTH)
        assert ok.status_code == 202
        await published[0].until(lambda evts: len(evts) == 1, what="the good participant's event")
        assert [e["data"]["name"] for e in published[0].events] == ["Siti"]
        assert await published[1].collect() == []
        roster = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["participants"]
        await eventually(lambda: roster.count_documents({}), what="the good participant stored")
        assert await roster.count_documents({}) == 1
    assert len(ENROLLMENT_HTTP) + len(CERTIFICATE_HTTP) + len(MESSAGES) >= 80


CODE = "A" * 22
CERTIFICATE_HTTP = [
    ("path traversal", "/certificates/../../etc/passwd.pdf", 404),
    ("encoded traversal", "/certificates/%2e%2e%2f%2e%2e%2fetc%2fpasswd.pdf", 404),
    ("encoded slash in code", f"/certificates/{CODE[:10]}%2F{CODE[:11]}.pdf", 404),
    ("NUL in code", f"/verify/{CODE}%00", 404),
    ("quote injection", "/verify/'%20OR%201=1--", 404),
    ("mongo operator as code", "/verify/%7B%22$ne%22:null%7D", 404),
    ("overlong code", f"/certificates/{'A' * 5000}.pdf", 404),
    ("unknown but well-formed code", f"/certificates/{CODE}.pdf", 404),
    ("unknown code verify json", f"/verify/{CODE}", 404),
    ("object key instead of code", f"/certificates/{P}%2F{CODE}.pdf", 404),
]


async def test_path_tricks_on_certificate_urls_are_plain_404s(amqp_url, mongodb_url, s3):
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates"))
    async with running(certificates_app(settings)) as http:
        for case, path, status in CERTIFICATE_HTTP:
            response = await http.get(path, headers={"Accept": "application/json"})
            assert response.status_code == status, f"{case}: {response.status_code}"
            assert "application/pdf" not in response.headers.get("content-type", ""), case
        assert (await http.get("/readyz")).status_code == 200, "still serving"
