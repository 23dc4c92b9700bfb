"""Certificates against the real RabbitMQ, the MongoDB-wire server and the S3 server."""

import contextlib
import datetime as dt
import hashlib
import io
import json

import httpx
import pytest
from minio import Minio
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from devstack.upstream import cloud_event
from services.certificates.app import Settings, create_app
from shared.contract import REASON_HEADER
from shared.contract.events import completed_event_id
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
    # The tests' Bus publishes as guest (with its user_id): believed here, never in a deployment.
    return Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=database, s3_endpoint=s3.endpoint,
                    s3_access_key=s3.access_key, s3_secret_key=s3.secret_key, s3_bucket=s3.bucket,
                    public_base_url="http://service", outbox_interval_s=0.2, completed_publishers="guest")  # fmt: skip


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
        assert page.status_code == 200 and "CONTOH" in page.text and "Peserta Nomor 5" in page.text  # specimen signer
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
    async with (
        running(create_app(settings_for(amqp_url, mongodb_url, s3, unique("certificates")))),
        Bus(amqp_url) as bus,
    ):
        issued = await bus.watch("certificate.issued")
        await bus.publish("completed", completed(1))
        await issued.until(lambda evts: len(evts) >= 1, what="a certificate")
    client = Minio(s3.endpoint.split("://")[1], s3.access_key, s3.secret_key, secure=False)
    keys = [o.object_name for o in client.list_objects(s3.bucket, recursive=True)]
    assert len(keys) == 1
    assert completed(1)["data"]["nip"] not in keys[0] and "Peserta" not in keys[0]
    anonymous = httpx.get(f"{s3.endpoint}/{s3.bucket}/{keys[0]}")
    assert anonymous.status_code == 403


async def test_a_completion_the_programs_rule_does_not_support_issues_nothing(amqp_url, mongodb_url, s3):
    def claiming(i: int, sessions: list[int], jp: int) -> dict:
        event = completed(i)
        return {**event, "data": {**event["data"], "sessions": sessions, "jp": jp}}

    unsupported = {
        "jp 999 does not match": claiming(1, list(range(1, 17)), 999),
        "1 sessions do not complete": claiming(2, [1], 999),  # the attack: one session, 999 JP
        "4 sessions do not complete": claiming(3, [1, 2, 3, 4], 8),
        "sessions [17] are outside 1..16": claiming(4, [*range(1, 16), 17], 32),
        "sessions are listed more than once": claiming(5, [*range(1, 13), 12, 12], 28),
    }
    database = unique("certificates")
    async with running(create_app(settings_for(amqp_url, mongodb_url, s3, database))), Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        for event in unsupported.values():
            await bus.publish("completed", event)
        await bus.publish("completed", claiming(6, list(range(1, 13)), 24))  # 12 of 16: supported
        dead = await bus.dead_letters("certificates.completed", expected=len(unsupported))
        await issued.until(lambda evts: len(evts) >= 1, what="the supported completion issued")
    reasons = {json.loads(m.body)["id"]: m.headers[REASON_HEADER] for m in dead}
    for reason, event in unsupported.items():
        assert reasons[event["id"]].startswith(reason), reasons[event["id"]]
        assert event["data"]["nip"] not in reasons[event["id"]]
    assert [e["data"]["nip"] for e in issued.events] == [completed(6)["data"]["nip"]]
    certificates = AsyncMongoClient(mongodb_url)[database]["certificates"]
    assert await certificates.count_documents({}) == 1, "nothing stored for the unsupported ones"


async def test_announcements_are_routed_and_kept_with_no_subscriber(amqp_url, mongodb_url, s3):
    """Nobody of ours consumes certificate.issued: it still reaches a queue (the service's own
    announcement stream), so the outbox marks it published instead of retrying it for ever, and a
    subscriber who comes later can read it from the stream."""
    import aio_pika

    from shared.platform.messaging import announcement_log_name
    from tests.support import eventually

    database = unique("certificates")
    async with running(create_app(settings_for(amqp_url, mongodb_url, s3, database))), Bus(amqp_url) as bus:
        await bus.publish("completed", completed(7))
        certificates = AsyncMongoClient(mongodb_url)[database]["certificates"]
        await eventually(lambda: certificates.find_one({"sha256": {"$exists": True}, "outbox_pending": 0}),
                         timeout=30, what="the certificate issued and its announcement marked published")  # fmt: skip

    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)  # a stream is read with a prefetch, from an offset
        stream = await channel.declare_queue(announcement_log_name("certificates"), passive=True)
        received: list = []

        async def take(message):
            received.append(message)
            await message.ack()

        tag = await stream.consume(take, arguments={"x-stream-offset": "first"})
        await eventually(lambda: _answer(received), what="the announcement read back from the stream")
        await stream.cancel(tag)
    [event] = [json.loads(m.body) for m in received]
    assert event["type"] == "humas.certificate.issued.v1" and event["data"]["nip"] == completed(7)["data"]["nip"]
    assert received[0].user_id == "guest", "announced under the service's own login"


async def _answer(value):
    return value
