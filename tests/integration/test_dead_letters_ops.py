"""Operators list dead letters with their reasons and re-publish them after a fix."""

import datetime as dt
import json
import shutil

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from devstack.rabbit import with_service_users
from devstack.upstream import cloud_event
from ops import rabbitmq_users
from ops.deadletters import CONSUMER_QUEUES, list_dead_letters, replay
from services.enrollment.app import Settings, create_app
from shared import contract
from shared.platform.settings import REPO_ROOT
from tests.support import Bus, drain, eventually, running, unique

pytestmark = pytest.mark.integration
NEXT_YEAR = "humas-level-up-2027"


def enrolled(nip: str, program_id: str) -> dict:
    data = {
        "program_id": program_id,
        "nip": nip,
        "name": "Siti Aminah",
        "jenjang": "ahli_muda",
        "unit_kerja": "Biro Humas",
    }
    return cloud_event("enrolled", data, source="/simpeg", time=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))


async def test_a_message_for_a_program_not_yet_deployed_is_replayed_after_the_fix(amqp_url, mongodb_url, tmp_path):
    programs = tmp_path / "programs"
    shutil.copytree(REPO_ROOT / "deploy" / "programs", programs)
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                        programs_dir=programs)  # fmt: skip
    early, garbage = enrolled("198503122010011004", NEXT_YEAR), b"\x00 not an event"
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        await bus.publish("enrolled", early)
        await bus.publish("enrolled", garbage)

        async def both_set_aside():
            letters = await list_dead_letters(amqp_url, ["enrollment.enrolled"])
            return letters if len(letters) == 2 else None

        letters = await eventually(both_set_aside, what="two dead letters")
    by_id = {d.id: d for d in letters}
    assert f"unknown program '{NEXT_YEAR}'" in by_id[early["id"]].reason
    assert by_id[early["id"]].routing_key == "enrolled"
    assert len(await list_dead_letters(amqp_url, ["enrollment.enrolled"])) == 2, "listing removes nothing"

    # The fix: the 2027 programme's file is deployed and the service restarted.
    text = (programs / "humas-level-up-2026.toml").read_text().replace("humas-level-up-2026", NEXT_YEAR)
    (programs / f"{NEXT_YEAR}.toml").write_text(text.replace("year = 2026", "year = 2027"))
    async with running(create_app(settings)):
        assert await replay(amqp_url, "enrollment.enrolled", {early["id"]}) == [early["id"]]
        roster = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["participants"]
        await eventually(lambda: roster.find_one({"program_id": NEXT_YEAR}), what="the replayed enrollment applied")
    remaining = await list_dead_letters(amqp_url, ["enrollment.enrolled"])
    assert [d.id for d in remaining] == [letters[1].id if letters[1].id != early["id"] else letters[0].id]
    assert remaining[0].id.startswith("sha256:"), "non-JSON bodies are identified by their hash"


def withdrawn(nip: str, program_id: str) -> dict:
    data = {"program_id": program_id, "nip": nip, "reason": "mutasi", "withdrawn_at": "2026-01-15T00:00:00+00:00"}
    return cloud_event("withdrawn", data, source="/simpeg", time=dt.datetime(2026, 1, 15, tzinfo=dt.UTC))


@pytest.fixture
def logins(amqp_url):
    """Every role's own URL on this test's vhost, as in a deployment."""
    prefix = unique("dl")
    urls = with_service_users(amqp_url, rabbitmq_users.new_passwords(), prefix)
    yield {**urls, "prefix": prefix}
    rabbitmq_users.delete_users(prefix)


@pytest.fixture
def operator_url(logins):
    return logins["operator"], rabbitmq_users.username("operator", logins["prefix"])


def test_every_consumer_queue_of_the_contract_can_be_listed_and_replayed():
    assert set(CONSUMER_QUEUES) == {f"{s}.{k}" for s, keys in contract.CONSUMES.items() for k in keys}
    assert {"enrollment.withdrawn", "attendance.withdrawn"} <= set(CONSUMER_QUEUES)


async def test_a_dead_lettered_withdrawal_is_listed_and_replayed_as_the_operator(amqp_url, mongodb_url, tmp_path,
                                                                                 logins, operator_url):  # fmt: skip
    url, operator = operator_url
    programs = tmp_path / "programs"
    shutil.copytree(REPO_ROOT / "deploy" / "programs", programs)
    settings = Settings(amqp_url=logins["enrollment"], mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                        programs_dir=programs)  # fmt: skip
    early = withdrawn("198503122010011004", NEXT_YEAR)
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        exchange = await bus.upstream.channel.get_exchange(contract.EXCHANGE, ensure=False)
        await exchange.publish(aio_pika.Message(json.dumps(early).encode(), content_type=contract.CONTENT_TYPE,
                                                headers={"traceparent": "00-abc-def-01"}),
                               routing_key="withdrawn")  # fmt: skip

        async def set_aside():
            return [d for d in await list_dead_letters(url) if d.queue == "enrollment.withdrawn"]  # every queue

        (letter,) = await eventually(set_aside, what="the withdrawal dead-lettered and listed")
        assert letter.id == early["id"] and letter.routing_key == "withdrawn"
        assert f"unknown program '{NEXT_YEAR}'" in letter.reason

        watch = await bus.upstream.listen("withdrawn")
        assert await replay(url, "enrollment.withdrawn", {early["id"]}) == [early["id"]]
        (again,) = await eventually(lambda: drain(watch), what="the replayed withdrawal")
    assert again.user_id == operator, "published as the operator, which the broker vouches for"
    assert again.headers["traceparent"] == "00-abc-def-01", "the original headers are kept"
    assert again.headers["x-replayed-from"] == "enrollment.withdrawn.dead-letter"
    assert contract.REASON_HEADER not in again.headers and "x-original-routing-key" not in again.headers
    assert json.loads(again.body) == early


async def test_a_message_set_aside_as_from_an_untrusted_publisher_is_not_replayed(amqp_url, operator_url):
    url, _ = operator_url
    forged = cloud_event("completed", {"program_id": "humas-level-up-2026", "nip": "198503122010011004"})
    async with Bus(amqp_url) as bus:
        dlx = await bus.upstream.channel.declare_exchange(contract.DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                                          durable=True)  # fmt: skip
        dlq = await bus.upstream.channel.declare_queue("certificates.completed.dead-letter", durable=True)
        await dlq.bind(dlx, routing_key="certificates.completed")
        headers = {contract.REASON_HEADER: "untrusted publisher: user_id 'guest'",
                   "x-original-routing-key": "completed"}  # fmt: skip
        await dlx.publish(
            aio_pika.Message(json.dumps(forged).encode(), headers=headers), routing_key="certificates.completed"
        )
    assert await replay(url, "certificates.completed", None) == []
    assert [d.id for d in await list_dead_letters(url, ["certificates.completed"])] == [forged["id"]], "kept"


def completed_body(nip: str = "198503122010011004") -> bytes:
    data = {"program_id": "humas-level-up-2026", "nip": nip, "name": "Siti Aminah", "jenjang": "ahli_muda",
            "unit_kerja": "Biro Humas", "sessions": list(range(1, 17)), "jp": 32,
            "completed_at": "2026-09-25T00:00:00+00:00"}  # fmt: skip
    return json.dumps(cloud_event("completed", data, source="/services/attendance")).encode()


async def _consumer_queue_of(url: str, name: str, routing_key: str) -> None:
    """The queue and its dead-letter queue, declared exactly as the service does, by its own login."""
    from faststream.rabbit import RabbitBroker

    from shared.platform.messaging import EVENTS, consumer_queue, declare_dead_letter_queue

    broker = RabbitBroker(url)
    await broker.connect()
    try:
        queue = await broker.declare_queue(consumer_queue(name, routing_key, 5))
        await queue.bind(await broker.declare_exchange(EVENTS), routing_key=routing_key)
        await declare_dead_letter_queue(broker, name)
    finally:
        await broker.stop()


async def test_an_upstream_message_the_broker_dead_lettered_cannot_be_replayed_as_a_completion(amqp_url, logins,
                                                                                                operator_url):  # fmt: skip
    """The review's attack: upstream publishes, on a key it may use, a `completed` body that expires at
    once, with headers naming the key `completed` and a harmless reason. RabbitMQ dead-letters it with
    every header kept; a replay that believed them re-published it as the operator, and the certificate
    service, which trusts the operator, issued a certificate."""
    url, _ = operator_url
    await _consumer_queue_of(logins["attendance"], "attendance.attended", contract.ATTENDED)
    async with await aio_pika.connect(logins["upstream"]) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(contract.EXCHANGE, ensure=False)
        await exchange.publish(aio_pika.Message(completed_body(), expiration=0.001, headers={
            "x-original-routing-key": "completed", contract.REASON_HEADER: "unknown program (fixed in v1.4)"}),
            routing_key=contract.ATTENDED)  # fmt: skip

    async def expired():
        return [d for d in await list_dead_letters(url, ["attendance.attended"])]

    (letter,) = await eventually(expired, what="the expired message dead-lettered by the broker")
    assert letter.routing_key == "attended" and letter.reason == "broker: expired", "its headers are not believed"
    assert await replay(url, "attendance.attended", None) == []
    assert [d.id for d in await list_dead_letters(url, ["attendance.attended"])] == [letter.id], "kept"


async def _write_completed_dead_letter(logins: dict, writer: str, reason: str) -> None:
    """A `completed` by the attendance service, written into the certificate service's dead-letter
    queue as `writer`'s login would (the broker checks the user_id against that login)."""
    prefix = logins["prefix"]
    async with await aio_pika.connect(logins[writer]) as connection:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(contract.DEAD_LETTER_EXCHANGE, ensure=False)
        headers = {contract.REASON_HEADER: reason, "x-original-user-id": f"{prefix}-attendance"}
        message = aio_pika.Message(completed_body(), user_id=f"{prefix}-{writer}", headers=headers)
        await dlx.publish(message, routing_key="certificates.completed")


async def test_a_dead_letter_forged_by_another_service_is_not_replayed(amqp_url, logins, operator_url):
    """A service may publish to the dead-letter exchange (to set aside what it rejects); one that writes
    into another service's dead-letter queue cannot have its forgery replayed as the operator."""
    url, _ = operator_url
    await _consumer_queue_of(logins["certificates"], "certificates.completed", contract.COMPLETED)
    await _write_completed_dead_letter(logins, "enrollment", "object store unavailable")

    async def forged():
        return await list_dead_letters(url, ["certificates.completed"])

    (letter,) = await eventually(forged, what="the forged dead letter")
    assert await replay(url, "certificates.completed", None) == []
    assert [d.id for d in await list_dead_letters(url, ["certificates.completed"])] == [letter.id], "kept"


async def test_a_completion_the_certificate_service_set_aside_is_replayed(amqp_url, logins, operator_url):
    """What replay is for still works: the attendance service's completion, set aside by the
    certificate service (here: its copy written as the certificate service would), goes back out."""
    url, operator = operator_url
    await _consumer_queue_of(logins["certificates"], "certificates.completed", contract.COMPLETED)
    await _write_completed_dead_letter(logins, "certificates", "unknown program")
    (letter,) = await eventually(lambda: list_dead_letters(url, ["certificates.completed"]), what="the dead letter")
    assert await replay(url, "certificates.completed", None) == [letter.id]
