"""Each RabbitMQ user can do its job and nothing more (on the real broker)."""

import aio_pika
import aiormq
import pytest

from devstack.rabbit import with_service_users
from ops import rabbitmq_users
from shared import contract
from tests.support import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def urls(amqp_url):
    prefix = unique("it")
    yield with_service_users(amqp_url, rabbitmq_users.new_passwords(), prefix)
    rabbitmq_users.delete_users(prefix)


async def _refused(url: str, action) -> bool:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        try:
            await action(channel)
        except aiormq.exceptions.ChannelAccessRefused:
            return True
        return False


async def _get(channel, queue_name: str):
    queue = await channel.get_queue(queue_name, ensure=False)
    return await queue.get(no_ack=False, fail=False)


async def _declare_own_queue(channel, name: str):
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    exchange = await channel.declare_exchange(contract.EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    await queue.bind(exchange, routing_key=contract.COMPLETED)
    return queue


async def test_a_service_may_use_its_own_queues_only(urls):
    assert not await _refused(urls["certificates"], lambda ch: _declare_own_queue(ch, "certificates.completed"))
    # The attendance service may not read, nor even declare, the certificate service's queue.
    assert await _refused(urls["attendance"], lambda ch: _declare_own_queue(ch, "certificates.completed"))
    assert await _refused(urls["attendance"], lambda ch: _get(ch, "certificates.completed"))


async def test_upstream_may_only_publish_events(urls):
    async def publish(channel, exchange_name=contract.EXCHANGE):
        exchange = await channel.get_exchange(exchange_name, ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), routing_key=contract.ENROLLED)

    assert not await _refused(urls["upstream"], publish)
    assert await _refused(urls["upstream"], lambda ch: publish(ch, contract.DEAD_LETTER_EXCHANGE))
    assert await _refused(urls["upstream"], lambda ch: ch.declare_queue("mine", durable=True))


async def test_operator_reads_dead_letters_but_not_live_queues(urls):
    async with await aio_pika.connect(urls["enrollment"]) as connection:
        await (await connection.channel()).declare_queue("enrollment.enrolled.dead-letter", durable=True)
    assert not await _refused(urls["operator"], lambda ch: _get(ch, "enrollment.enrolled.dead-letter"))
    assert await _refused(urls["operator"], lambda ch: _get(ch, "enrollment.enrolled"))


async def _publish(channel, routing_key: str):
    exchange = await channel.get_exchange(contract.EXCHANGE, ensure=False)
    await exchange.publish(aio_pika.Message(b"{}"), routing_key=routing_key)


ALL_KEYS = tuple(contract.TYPE_BY_ROUTING_KEY)
MAY_PUBLISH = {
    "upstream": {contract.ENROLLED, contract.ATTENDED, contract.WITHDRAWN},
    "enrollment": {contract.ENROLLED, contract.WITHDRAWN},
    "attendance": {contract.COMPLETED},
    "certificates": {contract.CERTIFICATE_ISSUED, contract.CERTIFICATE_REVOKED},
    # ops/deadletters.py replays what a consumer set aside: whatever the services consume.
    "operator": {contract.ENROLLED, contract.ATTENDED, contract.WITHDRAWN, contract.COMPLETED},
}


@pytest.mark.parametrize("role", sorted(MAY_PUBLISH))
async def test_each_login_may_publish_only_its_own_routing_keys(urls, role):
    refused = {key for key in ALL_KEYS if await _refused(urls[role], lambda ch, key=key: _publish(ch, key))}
    assert refused == set(ALL_KEYS) - MAY_PUBLISH[role]
    # A routing key outside the contract, or one dressed up as an allowed one, is refused as well.
    for key in ("completed.x", "x.enrolled", "certificate.issued.v2"):
        assert await _refused(urls[role], lambda ch, key=key: _publish(ch, key)), key


async def test_services_may_bind_their_queues_to_what_they_consume_only(urls):
    async def bind(channel, queue_name: str, routing_key: str):
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        exchange = await channel.declare_exchange(contract.EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        await queue.bind(exchange, routing_key=routing_key)

    for service, keys in contract.CONSUMES.items():
        for key in keys:
            assert not await _refused(urls[service], lambda ch: bind(ch, f"{service}.{key}", key)), (service, key)
    # Its own queue, bound to someone else's events (or to everything): refused.
    assert await _refused(urls["attendance"], lambda ch: bind(ch, "attendance.spy", contract.CERTIFICATE_ISSUED))
    assert await _refused(urls["certificates"], lambda ch: bind(ch, "certificates.spy", "#"))


@pytest.mark.parametrize("role", ["upstream", "operator"])
async def test_outside_logins_cannot_delete_or_retype_the_exchange(urls, role):
    """configure is what exchange.delete needs: an upstream or operator login with it could delete
    humas.events (every binding gone) and declare it anew as a fanout (out of reach of topic permissions)."""

    async def delete(channel):
        await channel.exchange_delete(contract.EXCHANGE)

    async def look_up(channel):  # what they do instead: a passive declare needs no permission
        await channel.get_exchange(contract.EXCHANGE, ensure=True)

    assert await _refused(urls[role], delete)
    assert await _refused(urls[role], lambda ch: ch.declare_exchange("humas.other", aio_pika.ExchangeType.TOPIC))
    assert not await _refused(urls[role], look_up)
    async with await aio_pika.connect(urls["enrollment"]) as connection:  # the exchange is still a topic
        await (await connection.channel()).declare_exchange(
            contract.EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
