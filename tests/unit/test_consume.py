"""One declaration per subscription (decision 12): the real `Runtime.consume` wrapper of the
certificate and attendance services, driven without a broker. The subscriber FastStream would call
is captured when the app is made; the message it settles is a fake in FastStream's context; the
ports are fakes. What is checked is what the refactor promised to keep: a refused or untrusted
`completed` is dead-lettered once and acked (never retried, never requeued); a transient failure
after an effect does not repeat the effect (no second issue, no second count); and the object
store's failure kinds are registered in every process that runs the certificate service."""

import json
import subprocess
import sys
import types

import pytest
from faststream.rabbit import RabbitBroker
from pymongo.errors import AutoReconnect

from devstack.upstream import cloud_event
from shared.contract.events import completed_event_id
from shared.platform.settings import REPO_ROOT

PROGRAM = "humas-level-up-2026"
NIP = "198503122010011004"
AMQP = "amqp://humas-attendance:x@127.0.0.1:1/none"  # never connected to
MONGO = "mongodb://127.0.0.1:1/none"


class FakeMessage:
    def __init__(self, user_id: str | None):
        self.raw_message = types.SimpleNamespace(user_id=user_id, headers={})
        self.acked = 0
        self.rejected = 0

    async def ack(self):
        self.acked += 1

    async def reject(self, requeue: bool = True):
        assert requeue
        self.rejected += 1


class FakeDeadLetters:
    def __init__(self):
        self.reasons: list[str] = []

    async def reject(self, message, queue_name, reason):
        self.reasons.append(reason)


@pytest.fixture
def subscribers(monkeypatch):
    """The functions the apps hand to `broker.subscriber`, by name (on_completed, on_attended, …)."""
    found: dict = {}
    real = RabbitBroker.subscriber

    def spy(self, *args, **kwargs):
        decorate = real(self, *args, **kwargs)

        def capture(fn):
            found[fn.__name__] = fn
            return decorate(fn)

        return capture

    monkeypatch.setattr(RabbitBroker, "subscriber", spy)
    return found


async def deliver(rt, subscriber, body: bytes, user_id: str | None) -> FakeMessage:
    message = FakeMessage(user_id)
    with rt.broker.context.scope("message", message):
        try:
            await subscriber(body)
        except Exception:
            pass  # settling rejected it (counted on the fake) and re-raised, as FastStream would see
    return message


def completed_body(sessions=range(1, 17), jp=32) -> bytes:
    data = {"program_id": PROGRAM, "nip": NIP, "name": "Siti Aminah", "jenjang": "ahli_muda", "unit_kerja": "Biro Humas",
            "sessions": list(sessions), "jp": jp, "completed_at": "2026-09-25T00:00:00+00:00"}  # fmt: skip
    return json.dumps(cloud_event("completed", data, source="/services/attendance",
                                  id=completed_event_id(PROGRAM, NIP))).encode()  # fmt: skip


@pytest.fixture
def certificates(subscribers, monkeypatch):
    from services.certificates import app as certificates_app
    from services.certificates.app import Settings, create_app

    settings = Settings(amqp_url=AMQP, mongodb_url=MONGO, completed_publishers="humas-attendance")
    app = create_app(settings)
    rt = app.state.runtime
    rt.dead_letters = FakeDeadLetters()
    calls = types.SimpleNamespace(issue=0, publish=0, issue_failures=0, publish_failures=0)

    async def issue_certificate(data, program, issuing):
        calls.issue += 1
        if calls.issue <= calls.issue_failures:
            raise AutoReconnect("primary stepped down")
        return types.SimpleNamespace(certificate_id="c1"), object()

    class Outbox:
        async def publish_stored(self, doc_id, routing_key, event):
            calls.publish += 1
            if calls.publish <= calls.publish_failures:
                raise AutoReconnect("primary stepped down")

        async def flush(self, doc_id):
            return 0

    monkeypatch.setattr(certificates_app.handlers, "issue_certificate", issue_certificate)
    rt._ports = types.SimpleNamespace(issuing=None, outbox=Outbox())
    return rt, subscribers["on_completed"], calls


def issued_count(rt) -> float:
    return rt.metrics.certificates.labels("certificates")._value.get()


async def test_a_completion_the_rule_does_not_support_is_dead_lettered_once_and_acked(certificates):
    rt, on_completed, calls = certificates
    message = await deliver(rt, on_completed, completed_body(sessions=[1], jp=999), "humas-attendance")
    assert (message.acked, message.rejected) == (1, 0), "Refused is settled here, not requeued toward the limit"
    assert len(rt.dead_letters.reasons) == 1 and rt.dead_letters.reasons[0].startswith("1 sessions do not complete")
    assert calls.issue == 0 and issued_count(rt) == 0


async def test_a_completion_from_another_login_is_dead_lettered_and_issues_nothing(certificates):
    rt, on_completed, calls = certificates
    for user in ("humas-upstream", None):
        message = await deliver(rt, on_completed, completed_body(), user)
        assert (message.acked, message.rejected) == (1, 0)
    assert rt.dead_letters.reasons == [
        "untrusted publisher: user_id 'humas-upstream'",
        "untrusted publisher: no user_id",
    ]
    assert calls.issue == 0


async def test_an_outage_while_publishing_does_not_issue_or_count_twice(certificates):
    rt, on_completed, calls = certificates
    calls.publish_failures = 2
    message = await deliver(rt, on_completed, completed_body(), "humas-attendance")
    assert (message.acked, message.rejected) == (1, 0)
    assert calls.publish == 3, "the publish waited out the outage in place"
    assert calls.issue == 1 and issued_count(rt) == 1, "the whole-handler retry did not run the issue again"


async def test_an_outage_while_issuing_retries_the_issue_and_counts_once(certificates):
    rt, on_completed, calls = certificates
    calls.issue_failures = 1
    message = await deliver(rt, on_completed, completed_body(), "humas-attendance")
    assert (message.acked, message.rejected) == (1, 0) and rt.dead_letters.reasons == []
    assert calls.issue == 2 and calls.publish == 1 and issued_count(rt) == 1


async def test_an_attendance_report_is_submitted_once_when_its_publish_waits_out_an_outage(subscribers):
    from services.attendance.app import Settings, create_app

    app = create_app(Settings(amqp_url=AMQP, mongodb_url=MONGO))
    rt = app.state.runtime
    rt.dead_letters = FakeDeadLetters()
    calls = types.SimpleNamespace(submit=0, publish=0)

    class Batcher:
        async def submit(self, data):
            calls.submit += 1
            return object()  # this report completed the participant

    class Outbox:
        async def publish_stored(self, doc_id, routing_key, event):
            calls.publish += 1
            if calls.publish == 1:
                raise AutoReconnect("primary stepped down")

    rt._ports = types.SimpleNamespace(batched_reports=Batcher(), outbox=Outbox())
    body = json.dumps(cloud_event("attended", {"program_id": PROGRAM, "nip": NIP, "session": 3})).encode()
    message = await deliver(rt, subscribers["on_attended"], body, None)
    assert (message.acked, message.rejected) == (1, 0)
    assert (calls.submit, calls.publish) == (1, 2)


def test_every_certificate_process_registers_the_object_stores_failure_kinds():
    """`python -m services.certificates` imports app.py: the S3 kinds are registered before any
    message is handled. Checked in a fresh interpreter, where no test has imported storage.py."""
    probe = (
        "import services.certificates.app\n"
        "from minio.error import ServerError\n"
        "from shared.platform.messaging import dependency_error\n"
        "print(dependency_error(ServerError('server failed with HTTP status code 503', 503)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "server"
    bare = "from minio.error import ServerError\nfrom shared.platform.messaging import dependency_error\n" \
           "print(dependency_error(ServerError('server failed with HTTP status code 503', 503)))\n"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", bare], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None", "without the certificate service, nobody classifies S3 errors"
