"""The certificate service when its dependencies fail, on the real servers: a rejected object-store
key holds the work and alerts; failures whose texts quote a NIP leave no NIP in the logs."""

import io
import json
import logging
import re

import pytest
from minio import Minio
from pymongo.errors import AutoReconnect, DuplicateKeyError

from services.certificates.app import create_app
from services.certificates.repository import MongoCertificates
from tests.integration.test_certificates_service import completed, settings_for
from tests.support import Bus, drain, eventually, running, unique

pytestmark = pytest.mark.integration
QUEUE = "certificates.completed"
NIP_RUN = re.compile(r"(?<![0-9])[0-9]{18}(?![0-9])")


class Lines(logging.Handler):
    """What the service logs: the rendered JSON lines (through its own formatter) and the raw records."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.out = io.StringIO()
        self.records: list[logging.LogRecord] = []
        root = logging.getLogger()
        root.handlers[0].setStream(self.out)  # the service's JSON handler, set up by create_app
        root.addHandler(self)

    def emit(self, record):
        self.records.append(record)

    def close(self):
        logging.getLogger().removeHandler(self)
        super().close()

    def rendered(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
def lines():
    handlers = []
    yield handlers.append
    for handler in handlers:
        handler.close()


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def dead_letters(bus: Bus) -> list:
    return await drain(await bus.upstream.channel.get_queue(f"{QUEUE}.dead-letter", ensure=True))


async def test_a_rejected_object_store_key_holds_the_completion_and_alerts(amqp_url, mongodb_url, s3, lines):
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates"))
    app = create_app(settings)
    log = Lines()
    lines(log)
    async with running(app) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        store = app.state.runtime.ports().store
        right_key = store._client
        # The key was rotated at the object store: ours no longer signs acceptably.
        store._client = Minio(settings.s3_host, access_key=s3.access_key, secret_key="rotated-" + s3.secret_key,
                              secure=False, region=settings.s3_region)  # fmt: skip
        await bus.publish("completed", completed(7))

        async def refused() -> float:
            return metric((await http.get("/metrics")).text, "humas_dependency_errors_total",
                          dependency="object_store", kind="credentials")  # fmt: skip

        await eventually(lambda: _at_least(refused, 3), timeout=30, what="three refused attempts")
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["object_store"] == "unavailable: CredentialsRejected"
        errors = [e for e in log.rendered() if e["level"] == "error"]
        assert any("refuses our credentials" in e["event"] for e in errors), errors
        assert not issued.events and not await issued.collect(), "nothing issued"
        assert metric((await http.get("/metrics")).text, "humas_messages_consumed_total", outcome="failed") == 0
        assert await dead_letters(bus) == [], "the completion is held, not dead-lettered"

        store._client = right_key  # the operator fixes the key: the held completion goes through
        events = await issued.until(lambda evts: len(evts) >= 1, what="the certificate once the key is right")
        assert [e["data"]["number"] for e in events] == ["0001/BH/HUMAS-LU/2026"]
        assert (await http.get("/readyz")).json()["checks"]["object_store"] == "ok"
        assert await dead_letters(bus) == []


async def _at_least(count, n: int) -> bool:
    return await count() >= n


async def test_failures_quoting_a_nip_leave_no_nip_in_log_lines_above_debug(
    amqp_url, mongodb_url, s3, lines, monkeypatch
):
    event = completed(4)
    nip = event["data"]["nip"]
    key = f"{event['data']['program_id']}:{nip}:1"
    real = MongoCertificates.mark_issued
    attempts = []

    async def failing(self, cert, *args, **kwargs):
        attempts.append(cert.nip)
        if len(attempts) == 1:  # an outage: retry_transient waits it out and says so
            raise AutoReconnect(f"connection closed while updating {key}")
        if len(attempts) == 2:  # a handler error as MongoDB words it: FastStream logs it, the message returns
            raise DuplicateKeyError(f'E11000 duplicate key error collection: certificates.certificates index: '
                                    f'holder_key_1 dup key: {{ holder_key: "{key}" }}', 11000)  # fmt: skip
        return await real(self, cert, *args, **kwargs)

    monkeypatch.setattr(MongoCertificates, "mark_issued", failing)
    app = create_app(settings_for(amqp_url, mongodb_url, s3, unique("certificates")))
    log = Lines()
    lines(log)
    async with running(app), Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.publish("completed", event)
        await issued.until(lambda evts: len(evts) >= 1, what="the certificate after the failures")

    above_debug = [e for e in log.rendered() if e["level"] != "debug"]
    text = json.dumps(above_debug)
    assert not NIP_RUN.findall(text), [e for e in above_debug if NIP_RUN.search(json.dumps(e))]
    masked = nip[:8] + "******" + nip[14:]
    assert any(e["level"] == "warning" and "AutoReconnect" in e["event"] and masked in e["event"] for e in above_debug)
    assert any(
        e["level"] == "error" and "DuplicateKeyError" in json.dumps(e) and masked in json.dumps(e) for e in above_debug
    )
    # Our own lines are masked at the source, not only by the formatter.
    ours = [r.getMessage() for r in log.records if r.name == "shared.platform.messaging" and r.levelno > logging.DEBUG]
    assert ours and not any(nip in message for message in ours), ours
