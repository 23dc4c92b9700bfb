"""Event times, withdrawals and races, against the real RabbitMQ and the MongoDB-wire server:
the outcome depends on the facts and their own times, never on the order they are processed in
(shared/contract/ordering.py, docs/decisions/0010-event-times-and-withdrawal.md)."""

import asyncio
import datetime as dt
import re
import shutil

import pytest
from pymongo import AsyncMongoClient

import services.attendance.app as attendance_app
import services.attendance.bootstrap as attendance_bootstrap
from devstack.upstream import cloud_event
from services.attendance.repository import MongoAttendanceBook
from services.enrollment import app as enrollment_app
from shared.contract import REASON_HEADER
from shared.platform.settings import REPO_ROOT
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
PROGRAM = "humas-level-up-2026"
T0 = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)
AFTER_LAST = dt.datetime(2026, 9, 30, 9, tzinfo=dt.UTC)  # the last session was on 25 September
BEFORE_LAST = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)


def nip(i: int) -> str:
    return f"19850312201001{1000 + i}"


def enrolled(who: str, name: str, time: dt.datetime | None, id: str | None = None) -> dict:
    data = {"program_id": PROGRAM, "nip": who, "name": name, "jenjang": "ahli_muda", "unit_kerja": "Biro Humas"}
    event = cloud_event("enrolled", data, source="/simpeg", time=time or T0, id=id)
    return event if time else {k: v for k, v in event.items() if k != "time"}


def attended(who: str, session: int) -> dict:
    data = {"program_id": PROGRAM, "nip": who, "session": session}
    return cloud_event("attended", data, time=dt.datetime(2026, 2, 13, 14, tzinfo=dt.UTC))


def withdrawn(who: str, at: dt.datetime) -> dict:
    data = {"program_id": PROGRAM, "nip": who, "reason": "mutasi", "withdrawn_at": at.isoformat()}
    return cloud_event("withdrawn", data, source="/simpeg", time=at)


async def handled(http, queue: str) -> int:
    """Messages this service has finished with (acknowledged, dead-lettered or not) from `queue`: its own metric."""
    text = (await http.get("/metrics")).text
    found = re.search(
        rf'humas_messages_consumed_total{{outcome="acked",queue="{re.escape(queue)}",[^}}]*}} (\S+)', text
    )
    return int(float(found.group(1))) if found else 0


async def test_both_services_order_enrollments_alike_refusing_future_dates_and_replayed_undated_events(
    amqp_url, mongodb_url
):
    enroll = enrollment_app.Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"))
    attend = attendance_app.Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"))
    future, replayed, dated = nip(1), nip(2), nip(3)
    old = enrolled(replayed, "Nama Lama", None)
    steps = [
        [
            enrolled(future, "Dari Masa Depan", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
            old,
            enrolled(dated, "Tanpa Waktu", None),
        ],
        [enrolled(replayed, "Nama Baru", None)],  # a correction, also without time
        [
            old,  # a replay of the old event: same (source, id), e.g. from a dead-letter queue or upstream's retry
            enrolled(dated, "Nama Resmi", T0),
        ],  # dated long before it was received: still later than undated
    ]
    async with (running(enrollment_app.create_app(enroll)) as enrollment, running(attendance_app.create_app(attend)) as attendance,
                Bus(amqp_url) as bus):  # fmt: skip
        sent = 0
        for batch in steps:  # each batch handled by both services before the next is sent
            for event in batch:
                await bus.publish("enrolled", event)
            sent += len(batch)

            async def both_done(n=sent):
                return (await handled(enrollment, "enrollment.enrolled") == n
                        and await handled(attendance, "attendance.enrolled") == n)  # fmt: skip

            await eventually(both_done, what=f"{sent} enrollments handled by both services")

        wrong = []
        for db_name, queue in (
            (enroll.mongodb_database, "enrollment.enrolled"),
            (attend.mongodb_database, "attendance.enrolled"),
        ):
            roster = AsyncMongoClient(mongodb_url, tz_aware=True)[db_name]["participants"]
            names = {doc["nip"]: doc.get("name") async for doc in roster.find({})}
            wrong += (
                [f"{queue}: the replayed old event beat the correction"] if names.get(replayed) != "Nama Baru" else []
            )
            wrong += [f"{queue}: an undated event beat a dated one"] if names.get(dated) != "Nama Resmi" else []
            wrong += [f"{queue}: a future-dated event was applied"] if future in names else []
        assert wrong == []
        for queue in ("enrollment.enrolled", "attendance.enrolled"):
            (letter,) = await bus.dead_letters(queue, expected=1)
            assert "time: " in letter.headers[REASON_HEADER] and "is in the future" in letter.headers[REASON_HEADER]


def programs_closing(tmp_path, closes_on: str):
    """The program files with another closing date (configuration, docs/contract.md §6)."""
    directory = tmp_path / f"programs-{closes_on}"
    shutil.copytree(REPO_ROOT / "deploy" / "programs", directory)
    path = directory / f"{PROGRAM}.toml"
    path.write_text(re.sub(r"(?m)^closes_on = .*$", f"closes_on = {closes_on}", path.read_text()))
    return directory


async def test_withdrawal_and_the_last_report_give_the_same_outcome_in_either_order(amqp_url, mongodb_url, tmp_path):
    """Each case twice with the same facts: withdrawal handled first, or the last report first.
    The program is first still open (nothing completes on the rule), so each order is played out
    fully; then it closes and the sweep decides."""
    cases = {  # (sessions attended, withdrawal date) → completes?
        "every session, withdrew after the end": (16, AFTER_LAST, True),
        "every session, withdrawal dated before the last one": (16, BEFORE_LAST, True),  # docs/contract.md §6
        "13 sessions, withdrew after the end": (13, AFTER_LAST, True),
        "13 sessions, withdrew before the end": (13, BEFORE_LAST, False),
    }
    people = {}  # nip → (case, withdrawal first?)
    for i, case in enumerate(cases):
        people[nip(10 + 2 * i)], people[nip(11 + 2 * i)] = (case, True), (case, False)
    db_name = unique("attendance")
    open_ = attendance_app.Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=db_name,
                                    programs_dir=programs_closing(tmp_path, "2099-01-01"), settle_seconds=0.5,
                                    outbox_interval_s=0.2)  # fmt: skip
    closed = open_.model_copy(update={"programs_dir": REPO_ROOT / "deploy" / "programs"})  # closed on 9 October
    db = AsyncMongoClient(mongodb_url, tz_aware=True)[db_name]

    async def state(who):
        return await db.participants.find_one({"nip": who}) or {}

    async with Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        async with running(attendance_app.create_app(open_)):
            for who, (case, _) in people.items():
                await bus.publish("enrolled", enrolled(who, f"Peserta {who[-4:]}", T0))
                for s in range(1, cases[case][0]):
                    await bus.publish("attended", attended(who, s))

            async def all_but_the_last_in():
                return all(
                    [
                        len((await state(who)).get("presence", {})) == cases[case][0] - 1
                        for who, (case, _) in people.items()
                    ]
                )

            await eventually(all_but_the_last_in, what="every report but the last recorded")
            for step in (1, 2):  # everyone's first step, then everyone's second
                for who, (case, withdrawal_first) in people.items():
                    sessions, at, _ = cases[case]
                    if withdrawal_first == (step == 1):
                        await bus.publish("withdrawn", withdrawn(who, at))
                    else:
                        await bus.publish("attended", attended(who, sessions))

                async def step_done(step=step):
                    for who, (case, withdrawal_first) in people.items():
                        doc, sessions = await state(who), cases[case][0]
                        withdrew, last_in = withdrawal_first or step == 2, not withdrawal_first or step == 2
                        if bool(doc.get("withdrawn")) != withdrew or len(doc.get("presence", {})) != sessions - (
                            not last_in
                        ):
                            return False
                    return True

                await eventually(step_done, what=f"step {step} handled for everyone")

        async with running(attendance_app.create_app(closed)):  # the program closes: the sweep decides

            def nips(events):
                return {e["data"]["nip"] for e in events}

            due = {who for who, (case, _) in people.items() if cases[case][2]}
            await completed.until(lambda events: nips(events) >= due, what="the expected completions")
            # A few more sweep passes (settle 0.5 s, every 0.2 s) that must complete no one else.
            await asyncio.sleep(1.5)
            await completed.collect()
    outcome = {
        case: {first: who in nips(completed.events) for who, (c, first) in people.items() if c == case}
        for case in cases
    }
    assert outcome == {case: {True: completes, False: completes} for case, (_, _, completes) in cases.items()}
    for who in people:
        assert not (await state(who)).get("eligible"), "completed or stopped: no longer a sweep candidate"


class GatedBook(MongoAttendanceBook):
    """Holds one eligibility write until released: a handler that read the participant before a
    completion and writes after it."""

    gate: asyncio.Event
    entered: asyncio.Event

    async def set_eligible(self, program_id, nip, eligible):
        if eligible and not GatedBook.entered.is_set():  # the first one only
            GatedBook.entered.set()
            await GatedBook.gate.wait()
        await super().set_eligible(program_id, nip, eligible)


async def test_an_eligibility_write_overtaken_by_the_completion_leaves_no_flag(amqp_url, mongodb_url, monkeypatch):
    GatedBook.gate, GatedBook.entered = asyncio.Event(), asyncio.Event()
    monkeypatch.setattr(attendance_bootstrap, "MongoAttendanceBook", GatedBook)
    settings = attendance_app.Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                                       settle_seconds=3600)  # the sweep stays out of it  # fmt: skip
    who = nip(30)
    db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
    async with running(attendance_app.create_app(settings)) as http, Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        for s in range(1, 13):
            await bus.publish("attended", attended(who, s))
        await eventually(lambda: _presences(db, who, 12), what="12 reports before the enrollment")
        await bus.publish("enrolled", enrolled(who, "Rina Wulandari", T0))  # 12 of 16 → eligible...
        await asyncio.wait_for(GatedBook.entered.wait(), 20)  # ...its write held back
        for s in range(13, 17):
            await bus.publish("attended", attended(who, s))
        await completed.until(lambda events: len(events) == 1, what="the completion for every session")
        GatedBook.gate.set()
        await eventually(lambda: _handled(http, "attendance.enrolled", 1), what="the enrollment handled")
        doc = await db.participants.find_one({"nip": who})
        assert doc["completed"] and not doc["eligible"]


async def test_the_sweep_gets_past_stale_eligibility_flags(amqp_url, mongodb_url):
    """Documents left completed *and* eligible (by the race above, before it was fixed) once filled
    every sweep chunk: the participants behind them were never completed."""
    settings = attendance_app.Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                                       settle_seconds=0.5, outbox_interval_s=0.2)  # fmt: skip
    db = AsyncMongoClient(mongodb_url, tz_aware=True)[settings.mongodb_database]
    stale = [{"_id": f"{PROGRAM}:{n}", "program_id": PROGRAM, "nip": n, "name": "Lama", "jenjang": "ahli_muda",
              "unit_kerja": "Biro Humas", "completed": True, "eligible": True}
             for n in (f"19700101199001{i:04d}" for i in range(300))]  # fmt: skip
    await db.participants.insert_many(stale)
    due = nip(40)
    async with running(attendance_app.create_app(settings)), Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        await bus.publish("enrolled", enrolled(due, "Dewi Lestari", T0))
        for s in range(1, 14):
            await bus.publish("attended", attended(due, s))
        await completed.until(lambda events: [e["data"]["nip"] for e in events] == [due], what="the due completion")
    assert await db.participants.count_documents({"eligible": True}) == 0


async def _presences(db, who, n):
    doc = await db.participants.find_one({"nip": who})
    return doc is not None and len(doc.get("presence", {})) == n


async def _handled(http, queue, n):
    return await handled(http, queue) == n
