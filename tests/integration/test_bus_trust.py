"""Who may say what on the bus: the certificate service issues only for a `completed` its producer
published, as the broker vouches (the AMQP user_id), never for one from another login."""

import json

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from devstack.rabbit import with_service_users
from ops import rabbitmq_users
from services.certificates.app import create_app
from shared import contract
from tests.integration.test_certificates_service import completed, settings_for
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration


@pytest.fixture
def users(amqp_url):
    prefix = unique("trust")
    urls = with_service_users(amqp_url, rabbitmq_users.new_passwords(), prefix)
    yield prefix, urls
    rabbitmq_users.delete_users(prefix)


async def publish_as(url: str, event: dict, user_id: str | None) -> None:
    """A confirmed, persistent `completed`, with the given AMQP user_id (the broker refuses a false one)."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(contract.EXCHANGE, ensure=False)
        message = aio_pika.Message(json.dumps(event).encode(), content_type=contract.CONTENT_TYPE, user_id=user_id,
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)  # fmt: skip
        await exchange.publish(message, routing_key=contract.COMPLETED)


async def test_only_the_attendance_service_and_operator_replays_are_believed(users, amqp_url, mongodb_url, s3):
    prefix, urls = users
    trusted = f"{rabbitmq_users.username('attendance', prefix)},{rabbitmq_users.username('operator', prefix)}"
    settings = settings_for(urls["certificates"], mongodb_url, s3, unique("certificates")).model_copy(
        update={"completed_publishers": trusted}
    )
    untrusted = {  # every one of them a well-formed completion the program's rule supports
        1: (amqp_url, "guest"),  # the vhost's all-powerful default login
        2: (amqp_url, None),  # no user_id at all
        3: (urls["admin"], rabbitmq_users.username("admin", prefix)),
        4: (urls["attendance"], None),  # the right login, but it does not say so: not vouched for
    }
    believed = {
        5: (urls["attendance"], rabbitmq_users.username("attendance", prefix)),
        6: (urls["operator"], rabbitmq_users.username("operator", prefix)),  # a dead-letter replay
    }
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        issued = await bus.watch(contract.CERTIFICATE_ISSUED)
        for i, (url, user_id) in {**untrusted, **believed}.items():
            await publish_as(url, completed(i), user_id)
        await issued.until(lambda evts: len(evts) >= 2, what="the two believed completions issued")
        dead = await bus.dead_letters("certificates.completed", expected=len(untrusted))

    reasons = sorted(m.headers[contract.REASON_HEADER] for m in dead)
    assert all(r.startswith("untrusted publisher") for r in reasons), reasons
    assert any("no user_id" in r for r in reasons) and any("'guest'" in r for r in reasons)
    assert {json.loads(m.body)["id"] for m in dead} == {completed(i)["id"] for i in untrusted}
    assert {e["data"]["nip"] for e in issued.events} == {completed(i)["data"]["nip"] for i in believed}
    certificates = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["certificates"]
    assert await certificates.count_documents({}) == len(believed), "nothing stored for the untrusted ones"
    # The service published as itself, and says so.
    assert all(e["source"] == "/services/certificates" for e in issued.events)


async def test_the_services_own_events_carry_its_login(users, amqp_url, mongodb_url, s3):
    prefix, urls = users
    me = rabbitmq_users.username("certificates", prefix)
    settings = settings_for(urls["certificates"], mongodb_url, s3, unique("certificates")).model_copy(
        update={"completed_publishers": rabbitmq_users.username("attendance", prefix)}
    )
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        queue = await bus.upstream.listen(contract.CERTIFICATE_ISSUED)
        await publish_as(urls["attendance"], completed(7), rabbitmq_users.username("attendance", prefix))
        message = await eventually(lambda: queue.get(fail=False, no_ack=True), what="certificate.issued")
    assert message.user_id == me
