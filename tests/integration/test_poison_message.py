"""A message whose handling keeps failing for an unexpected reason: rejected with requeue each
time, dead-lettered by the broker itself after the queue's delivery limit (decision 5), while
the messages around it are processed. On the real RabbitMQ."""

import datetime as dt

import pytest
from pymongo import AsyncMongoClient

from devstack.upstream import cloud_event
from services.enrollment import handlers
from services.enrollment.app import Settings, create_app
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
POISON, GOOD = "198503122010011004", "199001012015032001"


async def test_a_poison_message_is_dead_lettered_after_bounded_attempts(amqp_url, mongodb_url, monkeypatch):
    attempts = []
    real_enroll = handlers.enroll

    async def enroll(envelope, data, roster):
        if data.nip == POISON:
            attempts.append(envelope.id)
            raise RuntimeError("a bug that only this participant's data triggers")
        return await real_enroll(envelope, data, roster)

    monkeypatch.setattr(handlers, "enroll", enroll)
    settings = Settings(
        amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"), delivery_limit=3
    )
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        for nip in (POISON, GOOD):
            data = {
                "program_id": "humas-level-up-2026",
                "nip": nip,
                "name": "Siti",
                "jenjang": "ahli_muda",
                "unit_kerja": "Biro Humas",
            }
            await bus.publish("enrolled", cloud_event("enrolled", data, time=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)))
        [letter] = await bus.dead_letters("enrollment.enrolled", expected=1, timeout=30)
        assert letter.headers["x-death"][0]["reason"] == "delivery_limit", letter.headers
        assert 3 <= len(attempts) <= 4, f"bounded by the delivery limit of 3, not endless: {len(attempts)}"
        roster = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["participants"]
        await eventually(lambda: roster.find_one({"nip": GOOD}), what="the good participant stored")
        assert await roster.count_documents({"nip": POISON}) == 0
