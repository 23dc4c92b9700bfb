"""Enrollment against the real RabbitMQ and the MongoDB-wire server."""

import datetime as dt

import pytest
from pymongo import AsyncMongoClient

from devstack.upstream import cloud_event
from services.enrollment.app import Settings, create_app
from shared.contract import REASON_HEADER
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
T = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)


def enrolled(nip: str, name: str, time: dt.datetime, **extra):
    data = {
        "program_id": "humas-level-up-2026",
        "nip": nip,
        "name": name,
        "jenjang": "ahli_muda",
        "unit_kerja": "Biro Humas",
        **extra,
    }
    return cloud_event("enrolled", data, source="/simpeg", time=time)


async def test_latest_time_wins_duplicates_are_harmless_and_bad_input_is_dead_lettered(amqp_url, mongodb_url):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"))
    app = create_app(settings)
    async with running(app) as http, Bus(amqp_url) as bus:
        assert (await http.get("/readyz")).json()["status"] == "ready"
        newer, older = (
            enrolled("198503122010011004", "Nama Baru", T + dt.timedelta(hours=1)),
            enrolled("198503122010011004", "Nama Lama", T),
        )
        await bus.publish("enrolled", newer)
        await bus.publish("enrolled", b"{not json")
        await bus.publish("enrolled", older)  # arrives late: must not win
        await bus.publish("enrolled", newer)  # redelivered duplicate
        await bus.publish("enrolled", enrolled("19850312201001100X", "Salah", T))
        await bus.publish("enrolled", {**enrolled("199001012015032001", "Tipe", T), "type": "humas.unknown.v1"})
        await bus.publish("enrolled", enrolled("199001012015032001", "Dewi Lestari", T))  # after the bad ones

        roster = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]["participants"]

        async def both_there():
            return await roster.count_documents({}) == 2 and await roster.find_one({"nip": "199001012015032001"})

        await eventually(both_there, what="both participants in the roster")
        dead = await bus.dead_letters("enrollment.enrolled", expected=3)
        reasons = sorted(m.headers[REASON_HEADER] for m in dead)
        assert reasons[0] == "body is not JSON"
        assert "NIP must be exactly 18 digits" in reasons[1]
        assert "unexpected event type 'humas.unknown.v1'" in reasons[2]
        assert all(m.headers["x-original-routing-key"] == "enrolled" for m in dead)
        participant = await roster.find_one({"nip": "198503122010011004"})
        assert participant["name"] == "Nama Baru"
        assert await roster.count_documents({"nip": "198503122010011004"}) == 1
        assert (await http.get("/healthz")).status_code == 200
        metrics = (await http.get("/metrics")).text
        assert (
            'humas_messages_consumed_total{outcome="dead_lettered",queue="enrollment.enrolled",service="enrollment"} 3.0'
            in metrics
        )
        assert (
            'humas_messages_consumed_total{outcome="acked",queue="enrollment.enrolled",service="enrollment"} 7.0'
            in metrics
        )
