"""Attendance on the real RabbitMQ and MongoDB-wire server when a write goes wrong: one report
whose write fails must not cost the reports batched with it, and a report still in a handler's
hands (a write held up) must not be left out of a completion."""

import asyncio
import dataclasses
import json

import pytest
from pymongo import AsyncMongoClient

from services.attendance import bootstrap as attendance_bootstrap
from services.attendance.app import Settings, create_app
from services.attendance.repository import MongoAttendanceBook
from tests.integration.test_attendance_service import _count, attended, enrolled
from tests.support import Bus, drain, eventually, running, unique

pytestmark = pytest.mark.integration
GOOD, BAD = "198503122010011004", "199001012015032001"
OTHERS = [f"1987122420110120{i:02d}" for i in range(10, 30)]


class PoisonedBook(MongoAttendanceBook):
    """The real repository, except that BAD's report is written with a number BSON cannot hold:
    pymongo refuses the whole bulk write (OverflowError), as it did for a 2**70 `minutes`."""

    flushes: list[tuple[set[str], bool]] = []  # (NIPs in a bulk write, whether it failed)

    async def record_many(self, presences, now):
        nips = {p.nip for p in presences}
        poisoned = [dataclasses.replace(p, minutes=2**70) if p.nip == BAD else p for p in presences]
        try:
            result = await super().record_many(poisoned, now)
        except Exception:
            self.flushes.append((nips, True))
            raise
        self.flushes.append((nips, False))
        return result


async def test_a_report_whose_write_fails_costs_its_batch_neighbours_nothing(amqp_url, mongodb_url, monkeypatch):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                        outbox_interval_s=0.2, prefetch=64, batch_size=64, delivery_limit=1)  # fmt: skip
    monkeypatch.setattr(attendance_bootstrap, "MongoAttendanceBook", PoisonedBook)
    monkeypatch.setattr(PoisonedBook, "flushes", [])
    async with Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        async with running(create_app(settings)):
            pass  # declares the queues; the reports below then wait there and arrive together
        reports = [enrolled(GOOD, "Putu Ayu Lestari"), *(attended(GOOD, s) for s in range(1, 9)), attended(BAD, 3),
                   *(attended(GOOD, s) for s in range(9, 17)), *(attended(nip, 1) for nip in OTHERS)]  # fmt: skip
        await bus.upstream.publish_many(reports, window=64)
        async with running(create_app(settings)):
            dead = await bus.dead_letters("attendance.attended", expected=1)
            events = await completed.until(lambda evts: any(e["data"]["nip"] == GOOD for e in evts), what="completion")
            db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
            for nip in OTHERS:
                await eventually(lambda nip=nip: _count(db, nip, 1), what="every neighbour's report stored")
        assert [e["data"]["sessions"] for e in events if e["data"]["nip"] == GOOD] == [list(range(1, 17))]
        assert any(failed and nips - {BAD} for nips, failed in PoisonedBook.flushes), "BAD shared a failed batch"
        dead += await drain(await bus.upstream.channel.get_queue("attendance.attended.dead-letter", ensure=True))
        assert [json.loads(m.body)["data"]["nip"] for m in dead] == [BAD], "only the bad report is dead-lettered"


class GatedBook(MongoAttendanceBook):
    """The real repository, except that the write of GOOD's 13th report waits at a gate: a handler
    backing off through a database blip, or slow in another replica, holds it the same way."""

    held: asyncio.Event
    release: asyncio.Event

    async def record_many(self, presences, now):
        if any((p.nip, p.session) == (GOOD, 13) for p in presences):
            self.held.set()
            await self.release.wait()
        return await super().record_many(presences, now)


async def held() -> bool:
    return GatedBook.held.is_set()


async def never(check, seconds: float, what: str) -> None:
    """`check` stays false for `seconds`: the time the wrong thing would need to happen."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        assert not await check(), what
        await asyncio.sleep(0.05)


async def test_the_sweep_waits_for_a_report_still_in_a_handlers_hands(amqp_url, mongodb_url, monkeypatch):
    """After the program closes, GOOD (12 sessions recorded long ago) looks settled while their 13th
    report is in a replica's hands, not yet written. Neither replica may complete them before it is
    written: the certificate would state 12 sessions, for good."""
    first = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                     settle_seconds=30, outbox_interval_s=0.1)  # fmt: skip
    settings = first.model_copy(update={"settle_seconds": 0.2})
    monkeypatch.setattr(attendance_bootstrap, "MongoAttendanceBook", GatedBook)
    monkeypatch.setattr(GatedBook, "held", asyncio.Event(), raising=False)
    monkeypatch.setattr(GatedBook, "release", asyncio.Event(), raising=False)
    db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
    async with Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        async with running(create_app(first)):  # 12 sessions: eligible, not yet settled
            for routing_key, event in [enrolled(GOOD, "Putu Ayu Lestari"), *(attended(GOOD, s) for s in range(1, 13))]:
                await bus.publish(routing_key, event)
            await eventually(lambda: _count(db, GOOD, 12), what="12 sessions recorded")
        replicas = [settings.model_copy(update={"replica_id": name}) for name in ("a", "b")]
        async with running(create_app(replicas[0])), running(create_app(replicas[1])):
            await bus.publish(*attended(GOOD, 13))
            await eventually(held, what="the 13th report held in a handler")

            async def completion():
                return [e for e in await completed.collect() if e["data"]["nip"] == GOOD]

            await never(completion, 4, "completed while a report was still in a handler's hands")
            holders = await db.replicas.find({"oldest": {"$ne": None}}).to_list()
            assert len(holders) == 1, "the replica holding it says so in its heartbeat; the other waits for it"
            GatedBook.release.set()
            events = await completed.until(lambda evts: any(e["data"]["nip"] == GOOD for e in evts), what="completion")
        assert [e["data"]["sessions"] for e in events if e["data"]["nip"] == GOOD] == [list(range(1, 14))]
