"""A publish nobody can receive (no queue bound to its routing key) is never counted as published:
the broker returns it, the publisher raises, the outbox entry stays pending and the relay retries."""

import datetime as dt

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient

from shared import contract
from shared.contract.events import CompletedData, new_event
from shared.platform.messaging import RabbitPublisher, Unroutable
from shared.platform.outbox import MongoOutbox, with_outbox
from tests.support import drain, eventually, unique

pytestmark = pytest.mark.integration


def completion():
    data = CompletedData(program_id="humas-level-up-2026", nip="198503122010011004", name="Siti Aminah",
                         jenjang="ahli_muda", unit_kerja="Biro Humas", sessions=list(range(1, 17)), jp=32,
                         completed_at=dt.datetime(2026, 9, 25, tzinfo=dt.UTC))  # fmt: skip
    return new_event(contract.COMPLETED, "/services/attendance", data)


async def test_an_unroutable_event_stays_pending_until_a_queue_takes_it(amqp_url, mongodb_url):
    broker = RabbitBroker(amqp_url)
    publisher = RabbitPublisher(broker, user_id="guest")
    publisher.declare(contract.COMPLETED, "test")
    docs = AsyncMongoClient(mongodb_url)[unique("outbox")]["docs"]
    outbox = MongoOutbox(docs, publisher)
    event = completion()
    await docs.update_one({"_id": "p1"}, with_outbox({"$set": {"completed": True}}, contract.COMPLETED, event),
                          upsert=True)  # fmt: skip
    await broker.start()
    try:
        with pytest.raises(Unroutable):
            await publisher.publish(contract.COMPLETED, event)

        await outbox.publish_stored("p1", contract.COMPLETED, event)  # the handler's write stands
        doc = await docs.find_one({"_id": "p1"})
        assert doc["outbox"][event.id]["published"] is False and doc["outbox_pending"] == 1
        with pytest.raises(Unroutable):  # the relay's pass: still nobody listening
            await outbox.flush_all()
        assert (await docs.find_one({"_id": "p1"}))["outbox_pending"] == 1

        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(contract.EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, routing_key=contract.COMPLETED)
            assert await outbox.flush_all() == 1
            received = await eventually(lambda: drain(queue), what="the relayed event")
            assert [m.message_id for m in received] == [event.id] and received[0].user_id == "guest"
        await eventually(lambda: docs.find_one({"_id": "p1", "outbox_pending": 0}), what="marked published")
    finally:
        await broker.stop()
