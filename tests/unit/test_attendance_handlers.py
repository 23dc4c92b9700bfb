"""Completion, in memory: whatever the order, with duplicates, exactly one `completed`."""

import datetime as dt
import random

import pytest

from services.attendance import handlers
from shared.contract.events import AttendedData, CloudEvent, EnrolledData, completed_event_id
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

from .fakes import FakeAttendanceBook

PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NIP = "198503122010011004"
T0 = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)


def enrolled(name="Siti Aminah", time=T0):
    data = EnrolledData(program_id=PROGRAM.id, nip=NIP, name=name, jenjang="ahli_muda", unit_kerja="Biro Humas")
    return (
        "enrolled",
        CloudEvent(specversion="1.0", id="e", source="/simpeg", type="humas.enrolled.v1", time=time, data={}),
        data,
    )


def attended(session, minutes=None):
    return ("attended", None, AttendedData(program_id=PROGRAM.id, nip=NIP, session=session, minutes=minutes))


AFTER_CLOSE = dt.datetime.combine(PROGRAM.closing_date, dt.time(9), dt.UTC)
REPORTED = AFTER_CLOSE - dt.timedelta(days=3)  # when the replayed events are processed
SETTLE = dt.timedelta(seconds=30)


async def replay(events, book, program=PROGRAM):
    for kind, envelope, data in events:
        if kind == "enrolled":
            await handlers.record_enrollment(envelope, data, program, book, REPORTED)
        else:
            await handlers.record_attendance(data, program, book, REPORTED)


@pytest.mark.parametrize("seed", range(8))
async def test_all_sessions_in_any_order_with_duplicates_complete_once(seed):
    rng = random.Random(seed)
    events = [enrolled()] + [attended(s) for s in range(1, 17)]
    events += rng.sample(events, 6)  # redeliveries
    rng.shuffle(events)
    book = FakeAttendanceBook()
    await replay(events, book)
    assert list(book.completed) == [(PROGRAM.id, NIP)]
    event = book.completed[(PROGRAM.id, NIP)]
    assert event.id == completed_event_id(PROGRAM.id, NIP)
    assert event.data["sessions"] == list(range(1, 17)) and event.data["jp"] == 32


async def test_attendance_before_enrollment_completes_when_enrollment_arrives():
    book = FakeAttendanceBook()
    await replay([attended(s) for s in range(1, 17)], book)
    assert book.completed == {}
    await replay([enrolled()], book)
    assert (PROGRAM.id, NIP) in book.completed


@pytest.mark.parametrize("sessions", [(1, 2, 3, 4), (13, 14, 15, 16), tuple(range(1, 12))])
async def test_too_few_sessions_never_complete(sessions):
    book = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s) for s in sessions] * 2, book)
    assert (
        len(await handlers.complete_settled(PROGRAM, book, dt.timedelta(0), AFTER_CLOSE + dt.timedelta(days=365))) == 0
    )
    assert book.completed == {}


async def test_completion_carries_the_participant_as_enrolled_at_that_time():
    book = FakeAttendanceBook()
    later = T0 + dt.timedelta(days=1)
    await replay([enrolled("Nama Lama", T0), enrolled("Nama Baru", later), enrolled("Nama Usang", T0)], book)
    await replay([attended(s) for s in range(1, 17)], book)
    assert book.completed[(PROGRAM.id, NIP)].data["name"] == "Nama Baru"


async def test_meeting_the_rule_without_every_session_completes_after_the_program_closes():
    book = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 14)], book)
    assert book.completed == {}, "13 of 16: more sessions may still come"
    before_close = AFTER_CLOSE - dt.timedelta(days=2)
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, before_close)) == 0
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE)) == 1
    data = book.completed[(PROGRAM.id, NIP)].data
    assert data["sessions"] == list(range(1, 14)) and data["jp"] == 26
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE)) == 0


async def test_a_participant_still_reporting_is_not_completed_by_the_sweep():
    book = FakeAttendanceBook()
    await handlers.record_enrollment(*enrolled()[1:], PROGRAM, book, AFTER_CLOSE)
    for s in range(1, 14):
        await handlers.record_attendance(attended(s)[2], PROGRAM, book, AFTER_CLOSE)  # late reports
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE + SETTLE / 2)) == 0
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE + SETTLE)) == 1


async def test_short_presences_are_recorded_but_do_not_count():
    program = PROGRAM.model_copy(update={"completion": PROGRAM.completion.model_copy(update={"min_minutes": 60})})
    book = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s, minutes=30 if s <= 5 else 90) for s in range(1, 17)], book, program)
    assert len(book.presences) == 16
    assert len(await handlers.complete_settled(program, book, dt.timedelta(0), AFTER_CLOSE)) == 0  # 11 counted
    await replay([attended(1, minutes=75)], book, program)  # a longer report for session 1
    assert len(await handlers.complete_settled(program, book, dt.timedelta(0), AFTER_CLOSE)) == 1
    assert book.completed[(program.id, NIP)].data["sessions"] == [1, *range(6, 17)]


async def test_a_withdrawal_before_the_end_stops_completion_on_the_rule_but_not_every_session():
    """Same facts, either order, same outcome (more in tests/unit/test_ordering.py)."""
    from shared.contract.events import WithdrawnData

    withdrawal = WithdrawnData(program_id=PROGRAM.id, nip=NIP, reason="mutasi", withdrawn_at=T0)
    book = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 10)], book)
    await handlers.record_withdrawal(withdrawal, PROGRAM, book)
    await replay([attended(s) for s in range(10, 14)], book)
    assert await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE) == [], "13 of 16 after withdrawing"
    await replay([attended(s) for s in range(14, 17)], book)
    assert (PROGRAM.id, NIP) in book.completed, "every session attended completes (docs/contract.md §6)"

    other = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 17)], other)
    await handlers.record_withdrawal(withdrawal, PROGRAM, other)
    assert (PROGRAM.id, NIP) in other.completed


@pytest.mark.parametrize(
    ("counted", "today", "can"),
    [
        (set(), dt.date(2026, 2, 1), True),  # before the first session: all 16 ahead
        (set(range(1, 5)), dt.date(2026, 6, 1), True),  # 4 counted + 8 sessions left (12 Jun-25 Sep) = 12
        (set(range(1, 4)), dt.date(2026, 6, 1), False),  # 3 + 8 = 11 < 12: no longer possible
        (set(range(1, 13)), dt.date(2026, 12, 1), True),  # rule met
        (set(range(1, 12)), dt.date(2026, 12, 1), False),  # 11 and nothing left
    ],
)
def test_progress_says_whether_completion_is_still_possible(counted, today, can):
    from services.attendance.domain import progress

    p = progress(PROGRAM, NIP, None, dict.fromkeys(counted, 100), counted, False, False, today)
    assert p.can_still_complete is can and p.jp == 2 * len(counted)
    assert p.status == ("in_progress" if can else "cannot_complete")


def test_progress_of_a_withdrawn_or_completed_participant():
    from services.attendance.domain import progress

    assert progress(PROGRAM, NIP, None, {}, set(), False, True, dt.date(2026, 2, 1)).status == "withdrawn"
    done = progress(PROGRAM, NIP, None, {1: 100}, set(range(1, 17)), True, False, dt.date(2026, 12, 1))
    assert done.status == "completed" and done.can_still_complete and done.sessions_remaining == 0


async def test_the_sweep_completes_a_crowd_in_bounded_chunks():
    """At scale 100 a hundred thousand participants settle at once: each call holds one chunk."""
    book = FakeAttendanceBook()
    nips = [f"198503122010011{i:03d}" for i in range(1, 601)]
    for nip in nips:
        data = EnrolledData(program_id=PROGRAM.id, nip=nip, name="Peserta", jenjang="ahli_pertama", unit_kerja="Satker")
        await handlers.record_enrollment(enrolled()[1], data, PROGRAM, book, REPORTED)
        for s in range(1, 14):
            await handlers.record_attendance(
                AttendedData(program_id=PROGRAM.id, nip=nip, session=s), PROGRAM, book, REPORTED
            )
    chunks = []
    while done := await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE, limit=256):
        chunks.append(len(done))
    assert chunks == [256, 256, 88]
    assert {n for (_, n) in book.completed} == set(nips)


async def test_nobody_settles_while_reports_are_pending():
    """A backlog (a replay, an outage) makes everyone behind it look quiet; so does a report taken
    from the queue and not yet written (a database blip, another replica's prefetch)."""
    book = FakeAttendanceBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 14)], book)
    assert await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE, reports_pending=True) == []
    assert book.completed == {}
    assert len(await handlers.complete_settled(PROGRAM, book, SETTLE, AFTER_CLOSE, reports_pending=False)) == 1


class WritesBook(FakeAttendanceBook):
    """Records the flag writes: the handler asks the verdict, and writes only what changed."""

    def __init__(self):
        super().__init__()
        self.flag_writes: list[bool] = []

    async def set_eligible(self, program_id, nip, eligible):
        self.flag_writes.append(eligible)
        await super().set_eligible(program_id, nip, eligible)


async def test_the_eligible_flag_is_written_once_per_participant_not_per_report():
    book = WritesBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 16)] * 2, book)
    assert book.flag_writes == [True], "set once, at the 12th counted session"
    assert book.eligible == {(PROGRAM.id, NIP)} and book.completed == {}


async def test_a_stale_eligible_flag_is_cleared_when_nothing_is_left_to_complete():
    book = WritesBook()
    await replay([enrolled()] + [attended(s) for s in range(1, 17)], book)
    book.eligible.add((PROGRAM.id, NIP))  # as an older version could leave a completed participant
    assert await handlers.complete_if_due(PROGRAM, await book.attendee(PROGRAM.id, NIP), book, AFTER_CLOSE) is None
    assert book.flag_writes == [True, False] and book.eligible == set()
    assert await handlers.complete_if_due(PROGRAM, await book.attendee(PROGRAM.id, NIP), book, AFTER_CLOSE) is None
    assert book.flag_writes == [True, False], "cleared once: nothing written when it already says so"
