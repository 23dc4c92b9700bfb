"""Certificates against the real RabbitMQ, the MongoDB-wire server and the S3 server."""

import contextlib
import datetime as dt
import hashlib
import io

import httpx
import pytest
from minio import Minio
from pypdf import PdfReader

from devstack.upstream import cloud_event
from services.certificates.app import Settings, create_app
from shared.contract import REASON_HEADER
from shared.events import completed_event_id
from tests.support import Bus, running, unique

pytestmark = pytest.mark.integration
PROGRAM = "humas-level-up-2026"


def completed(i: int) -> dict:
    nip = f"19850312201001{1 + i % 2}{i:03d}"
    data = {"program_id": PROGRAM, "nip": nip, "name": f"Peserta Nomor {i}", "jenjang": "ahli_muda",
            "unit_kerja": "Biro Humas", "sessions": list(range(1, 17)), "jp": 32,
            "completed_at": dt.datetime(2026, 9, 25, tzinfo=dt.UTC).isoformat()}  # fmt: skip
    return cloud_event("completed", data, source="/services/attendance", id=completed_event_id(PROGRAM, nip))


def settings_for(amqp_url, mongodb_url, s3, database):
    return Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=database, s3_endpoint=s3.endpoint,
                    s3_access_key=s3.access_key, s3_secret_key=s3.secret_key, s3_bucket=s3.bucket,
                    public_base_url="http://service", outbox_interval_s=0.2)  # fmt: skip


async def test_two_instances_issue_each_certificate_once_with_gapless_numbers(amqp_url, mongodb_url, s3):
    database = unique("certificates")
    n = 12
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(running(create_app(settings_for(amqp_url, mongodb_url, s3, database))))
        await stack.enter_async_context(running(create_app(settings_for(amqp_url, mongodb_url, s3, database))))
        bus = await stack.enter_async_context(Bus(amqp_url))
        issued = await bus.watch("certificate.issued")
        for i in range(n):
            await bus.publish("completed", completed(i))
        for i in range(0, n, 3):
            await bus.publish("completed", completed(i))  # the same completion redelivered
        await bus.publish("completed", {**completed(99), "data": {**completed(99)["data"], "jenjang": "kepala"}})
        await bus.publish("completed", b"\x00\x01binary")

        await issued.until(lambda evts: len({e["data"]["nip"] for e in evts}) == n, what=f"{n} certificates")
        events = {e["data"]["nip"]: e["data"] for e in await issued.collect()}
        numbers = sorted(d["number"] for d in events.values())
        assert numbers == [f"{k:04d}/BH/HUMAS-LU/2026" for k in range(1, n + 1)], "unique and gapless"
        assert len({d["certificate_id"] for d in events.values()}) == n

        data = events[completed(5)["data"]["nip"]]
        assert data["revision"] == 1 and data["url"].startswith("http://service/certificates/")
        first, second = await http.get(data["url"]), await http.get(data["url"])
        assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
        assert first.content == second.content
        assert hashlib.sha256(first.content).hexdigest() == data["sha256"]
        text = "".join(PdfReader(io.BytesIO(first.content)).pages[0].extract_text().split())
        assert "PesertaNomor5" in text and "19850312201001" in text

        verify = await http.get(data["verify_url"], headers={"Accept": "application/json"})
        body = verify.json()
        assert body["status"] == "valid" and body["sha256"] == data["sha256"]
        assert body["number"] == data["number"] and body["certificate_id"] == data["certificate_id"]
        assert body["nip"] == "19850312******2005" and "email" not in body
        page = await http.get(data["verify_url"], headers={"Accept": "text/html"})
        assert page.status_code == 200 and "SAH" in page.text and "Peserta Nomor 5" in page.text
        assert data["nip"] not in page.text and page.headers["x-content-type-options"] == "nosniff"

        for path in ("/verify/AAAAAAAAAAAAAAAAAAAAAA", "/certificates/AAAAAAAAAAAAAAAAAAAAAA.pdf",
                     "/verify/..%2F..%2Fetc%2Fpasswd", "/certificates/x.pdf"):  # fmt: skip
            assert (await http.get(path)).status_code == 404, path

        dead = await bus.dead_letters("certificates.completed", expected=2)
        reasons = " | ".join(sorted(m.headers[REASON_HEADER] for m in dead))
        assert "jenjang" in reasons and "not JSON" in reasons
        ready = (await http.get("/readyz")).json()
        assert ready["checks"] == {"broker": "ok", "database": "ok", "object_store": "ok"}


async def test_stored_pdfs_are_private_and_keyed_without_personal_data(amqp_url, mongodb_url, s3):
    async with running(create_app(settings_for(amqp_url, mongodb_url, s3, unique("certificates")))), Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.publish("completed", completed(1))
        await issued.until(lambda evts: len(evts) >= 1, what="a certificate")
    client = Minio(s3.endpoint.split("://")[1], s3.access_key, s3.secret_key, secure=False)
    keys = [o.object_name for o in client.list_objects(s3.bucket, recursive=True)]
    assert len(keys) == 1
    assert completed(1)["data"]["nip"] not in keys[0] and "Peserta" not in keys[0]
    anonymous = httpx.get(f"{s3.endpoint}/{s3.bucket}/{keys[0]}")
    assert anonymous.status_code == 403
