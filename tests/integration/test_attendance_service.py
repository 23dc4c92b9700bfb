"""Attendance against the real RabbitMQ and the MongoDB-wire server."""

import datetime as dt
import random

import pytest
from pymongo import AsyncMongoClient

from devstack.upstream import cloud_event
from services.attendance.app import Settings, create_app
from shared.contract import REASON_HEADER
from shared.contract.events import completed_event_id
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
PROGRAM = "humas-level-up-2026"
ALL, FOUR, THIRTEEN = "198503122010011004", "199001012015032001", "198712242011012009"


def enrolled(nip, name):
    data = {
        "program_id": PROGRAM,
        "nip": nip,
        "name": name,
        "jenjang": "ahli_pertama",
        "unit_kerja": "Kanwil Kemenag Bali",
    }
    return "enrolled", cloud_event("enrolled", data, source="/simpeg")


def attended(nip, session, **extra):
    data = {"program_id": PROGRAM, "nip": nip, "session": session, **extra}
    return "attended", cloud_event("attended", data, time=dt.datetime(2026, 2, 13, 14, tzinfo=dt.UTC))


async def test_completion_is_published_once_whatever_the_order(amqp_url, mongodb_url):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                        settle_seconds=1.0, outbox_interval_s=0.2)  # fmt: skip
    rng = random.Random(7)
    events = [attended(ALL, s) for s in range(1, 17)] + [enrolled(ALL, "Putu Ayu Lestari")]
    events += [enrolled(FOUR, "Ahmad"), *(attended(FOUR, s) for s in (1, 2, 3, 4))]
    events += [enrolled(THIRTEEN, "Rina Wulandari"), *(attended(THIRTEEN, s, minutes=100) for s in range(1, 14))]
    events += rng.sample(events, 10)  # redeliveries: the same (source, id) again
    rng.shuffle(events)
    events = [e for e in events if e[1]["data"]["nip"] == ALL and e[0] == "attended"] + [
        e for e in events if not (e[1]["data"]["nip"] == ALL and e[0] == "attended")
    ]  # ALL's attendance strictly before their enrollment

    async with running(create_app(settings)), Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        for routing_key, event in events:
            await bus.publish(routing_key, event)
        await bus.publish("attended", attended(ALL, 99)[1])
        await bus.publish("attended", attended("198503122010011", 3)[1])
        await bus.publish("attended", {**attended(ALL, 2)[1], "specversion": "2.0"})

        def nips(evts):
            # Publication is at least once; (source, id) is an event's identity (docs/contract.md §2).
            return sorted({(e["source"], e["id"]): e["data"]["nip"] for e in evts}.values())

        await completed.until(lambda evts: nips(evts) == sorted([ALL, THIRTEEN]), what="two completions")
        by_nip = {e["data"]["nip"]: e for e in completed.events}
        assert by_nip[ALL]["id"] == completed_event_id(PROGRAM, ALL)
        assert by_nip[ALL]["type"] == "humas.completed.v1" and by_nip[ALL]["source"] == "/services/attendance"
        assert by_nip[ALL]["data"]["sessions"] == list(range(1, 17)) and by_nip[ALL]["data"]["jp"] == 32
        assert by_nip[THIRTEEN]["data"]["sessions"] == list(range(1, 14)) and by_nip[THIRTEEN]["data"]["jp"] == 26
        assert by_nip[ALL]["data"]["name"] == "Putu Ayu Lestari"

        dead = await bus.dead_letters("attendance.attended", expected=3)
        reasons = " | ".join(sorted(m.headers[REASON_HEADER] for m in dead))
        assert "session must be between 1 and 16" in reasons
        assert "NIP must be exactly 18 digits" in reasons
        assert "specversion" in reasons

        db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
        await eventually(lambda: _count(db, FOUR, 4), what="the four presences of the dropout recorded")
        dropout = await db.participants.find_one({"nip": FOUR})
        assert "completed" not in dropout and not dropout.get("eligible")
        await completed.collect()
        assert nips(completed.events) == sorted([ALL, THIRTEEN]), "exactly one completion each, none for 4 sessions"


async def _count(db, nip, n):
    doc = await db.participants.find_one({"nip": nip})
    return doc is not None and len(doc.get("presence", {})) == n


async def test_enrollments_racing_their_own_attendance_reports_are_never_lost(amqp_url, mongodb_url):
    """Found by the benchmark: an enrollment and the first report of the same participant, handled
    at once, both try to create the document; the loser of that race must still be applied."""
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                        prefetch=64, outbox_interval_s=0.2)  # fmt: skip
    rng = random.Random(11)
    nips = [
        f"1990{m:02d}{d:02d}2015031{k:03d}"
        for m, d, k in ((rng.randint(1, 12), rng.randint(1, 28), i) for i in range(120))
    ]
    events = []
    for nip in nips:  # each participant's enrollment lands among its own first reports
        own = [attended(nip, s) for s in range(1, 17)]
        own.insert(rng.randint(0, 3), enrolled(nip, f"Peserta {nip[-3:]}"))
        events.append(own)
    interleaved = [e for group in zip(*events) for e in group]
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        await bus.upstream.publish_many(interleaved, window=512)
        await completed.until(lambda evts: {e["data"]["nip"] for e in evts} == set(nips), 60, "all 120 completions")


async def test_the_sweep_waits_for_reports_still_queued(amqp_url, mongodb_url):
    """After the program closes, a participant whose last reports sit behind a backlog looks
    quiet; the sweep must not certify them with what it has so far (at scale 100 it printed 12
    sessions for people who attended 16). Their 16th report completes them with all 16."""
    # First run: ALL reaches the rule (12 of 16) but is not yet settled when the service stops.
    first = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                     settle_seconds=30, outbox_interval_s=0.1, prefetch=2, batch_size=1)  # fmt: skip
    settings = first.model_copy(update={"settle_seconds": 0.2})  # then: settled at once, as seen from here
    async with Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        async with running(create_app(first)):
            for routing_key, event in [enrolled(ALL, "Putu Ayu Lestari"), *(attended(ALL, s) for s in range(1, 13))]:
                await bus.publish(routing_key, event)
            db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
            await eventually(lambda: _count(db, ALL, 12), what="12 sessions recorded, eligible once settled")
        # While the service is down: a backlog of other people's reports, then the last four sessions.
        backlog = [attended(f"1990010120150320{i:02d}", 1) for i in range(1, 100)] * 12
        backlog = [("attended", {**event, "id": f"{event['id']}-{k}"}) for k, (_, event) in enumerate(backlog)]
        await bus.upstream.publish_many([*backlog, *(attended(ALL, s) for s in range(13, 17))], window=64)
        async with running(create_app(settings)):
            await completed.until(lambda evts: any(e["data"]["nip"] == ALL for e in evts), timeout=60,
                                  what="the completion")  # fmt: skip
            await eventually(lambda: _count(db, ALL, 16), what="all 16 sessions recorded")
        await completed.collect()
        sessions = {tuple(e["data"]["sessions"]) for e in completed.events if e["data"]["nip"] == ALL}
        assert sessions == {tuple(range(1, 17))}, "certified only once every queued report was in"
