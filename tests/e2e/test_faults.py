"""Nothing lost, nothing doubled, when a service is killed (kill -9) in the middle of a replay."""

import asyncio
import hashlib
import random

import httpx
import pytest
from pymongo import AsyncMongoClient

from bench import workload
from devstack import processes
from shared.programs import Programs
from shared.settings import REPO_ROOT
from tests.support import Bus, eventually

pytestmark = pytest.mark.e2e
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")


@pytest.mark.parametrize("victim", ["certificates", "attendance", "enrollment"])
async def test_kill_9_mid_replay_then_restart(system, amqp_url, victim):
    seed = {"certificates": 1, "attendance": 2, "enrollment": 3}[victim]
    people = workload.cohort(PROGRAM, 1, seed=seed)[:150]
    expected = workload.expected_completions(PROGRAM, people)
    rng = random.Random(seed)
    # First 40 participants' whole year (so certificates are flowing), then the other 110.
    first, rest = list(workload.events(PROGRAM, people[:40])), list(workload.events(PROGRAM, people[40:]))
    rng.shuffle(first)
    rng.shuffle(rest)
    async with Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.upstream.publish_many(first + rest[: len(rest) // 3])
        await issued.until(lambda evts: len(evts) >= 1, 60, "the first certificate")
        system.kill(victim)  # mid-stream: messages in flight, outbox entries possibly unpublished
        await bus.upstream.publish_many(rest[len(rest) // 3 :])
        system.start(victim)
        processes.wait_ready(system.services[victim])
        await issued.until(lambda evts: {e["data"]["nip"] for e in evts} >= expected, 120, "every certificate")

    mongo = AsyncMongoClient(system.mongodb_url)
    certificates = await mongo[system.databases["certificates"]]["certificates"].find({}).to_list()
    assert sorted(c["nip"] for c in certificates) == sorted(expected), "exactly one certificate each, none extra"
    assert sorted(c["seq"] for c in certificates) == list(range(1, len(expected) + 1)), "numbers unique and gapless"
    by_nip = {e["data"]["nip"]: e["data"]["certificate_id"] for e in issued.events}
    assert len(by_nip) == len(expected) and all(by_nip[c["nip"]] == c["_id"] for c in certificates)
    roster = mongo[system.databases["enrollment"]]["participants"]
    assert await roster.count_documents({}) == len(people), "the roster lost nobody"
    attendance = mongo[system.databases["attendance"]]["participants"]
    completed = await attendance.count_documents({"completed": True})
    assert completed == len(expected), "roster vs completed vs certificates agree"
    await eventually(lambda: _no_dead_letters(amqp_url), what="no good message dead-lettered")


async def _no_dead_letters(amqp_url):
    from ops.deadletters import list_dead_letters

    return not await list_dead_letters(amqp_url)


async def test_database_down_for_30_seconds_mid_replay(system, amqp_url, mongodb_server):
    """Handlers wait the outage out with back-off: nothing dead-lettered, nothing lost or doubled."""
    if mongodb_server is None:
        pytest.skip("needs the local MongoDB-wire server to stop and restart")
    people = workload.cohort(PROGRAM, 1, seed=4)[:100]
    expected = workload.expected_completions(PROGRAM, people)
    events = list(workload.events(PROGRAM, people))
    random.Random(4).shuffle(events)
    async with Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.upstream.publish_many(events[: len(events) // 2])
        mongodb_server.stop()
        await bus.upstream.publish_many(events[len(events) // 2 :])  # the broker keeps taking events
        await asyncio.sleep(30)  # the fault itself: 30 s without a database
        mongodb_server.start()
        await issued.until(lambda evts: {e["data"]["nip"] for e in evts} >= expected, 180, "every certificate")

    mongo = AsyncMongoClient(system.mongodb_url)
    certificates = await mongo[system.databases["certificates"]]["certificates"].find({}).to_list()
    assert sorted(c["nip"] for c in certificates) == sorted(expected)
    assert sorted(c["seq"] for c in certificates) == list(range(1, len(expected) + 1))
    assert await mongo[system.databases["enrollment"]]["participants"].count_documents({}) == len(people)
    assert await _no_dead_letters(amqp_url), "an outage must never dead-letter a good message"


async def test_object_store_down_for_30_seconds_mid_replay(system, amqp_url, s3_server):
    """Rendering waits for the object store with back-off: no certificate lost, doubled or dead-lettered."""
    server = s3_server[2]
    if server is None:
        pytest.skip("needs the local S3 server to stop and restart")
    people = workload.cohort(PROGRAM, 1, seed=5)[:100]
    expected = workload.expected_completions(PROGRAM, people)
    first, rest = list(workload.events(PROGRAM, people[:30])), list(workload.events(PROGRAM, people[30:]))
    async with Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.upstream.publish_many(first)
        await issued.until(lambda evts: len(evts) >= 1, 60, "the first certificate")
        server.stop()
        await bus.upstream.publish_many(rest)
        await asyncio.sleep(30)  # the fault itself: 30 s without the object store
        server.start()
        await issued.until(lambda evts: {e["data"]["nip"] for e in evts} >= expected, 180, "every certificate")
        async with httpx.AsyncClient(timeout=10) as http:
            for data in [e["data"] for e in issued.events][-5:]:
                pdf = await http.get(data["url"])
                assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == data["sha256"]

    mongo = AsyncMongoClient(system.mongodb_url)
    certificates = await mongo[system.databases["certificates"]]["certificates"].find({}).to_list()
    assert sorted(c["nip"] for c in certificates) == sorted(expected)
    assert sorted(c["seq"] for c in certificates) == list(range(1, len(expected) + 1))
    assert await _no_dead_letters(amqp_url), "an outage must never dead-letter a good message"
