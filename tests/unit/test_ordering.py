"""The order of facts about one participant (shared/contract/ordering.py) and what a withdrawal changes
(services/attendance/domain.py): pure rules, and the handlers of both services on in-memory fakes."""

import datetime as dt
import itertools

import pytest

from services.attendance import domain
from services.attendance import handlers as attendance
from services.enrollment import handlers as enrollment
from shared.contract.events import CloudEvent, EnrolledData, WithdrawnData
from shared.contract.ordering import UNDATED, event_key, rank
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

from .fakes import FakeAttendanceBook, FakeRoster

PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NIP = "198503122010011004"
T0 = dt.datetime(2026, 1, 10, 8, tzinfo=dt.UTC)
AFTER_CLOSE = dt.datetime.combine(PROGRAM.closing_date, dt.time(9), dt.UTC)


def test_a_dated_event_ranks_by_its_time_and_an_undated_one_below_every_dated_one():
    a, b = event_key("/simpeg", "1"), event_key("/simpeg", "2")
    assert rank(T0, a) < rank(T0 + dt.timedelta(microseconds=1), a)
    assert rank(None, a, first_received=T0 + dt.timedelta(days=300)) < rank(dt.datetime(1990, 1, 1, tzinfo=dt.UTC), b)
    assert rank(None, a, first_received=T0) < rank(None, b, first_received=T0 + dt.timedelta(seconds=1))
    assert rank(None, a, first_received=T0).startswith(UNDATED)
    with pytest.raises(ValueError):
        rank(None, a)


def test_equal_times_are_broken_by_identity_so_every_service_picks_the_same_winner():
    a, b = event_key("/simpeg", "1"), event_key("/mooc-pintar", "1")
    assert a != b and len({a, b, event_key("/simpeg", "1")}) == 2
    assert (rank(T0, a) < rank(T0, b)) == (a < b)
    same_instant = T0.astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert rank(same_instant, a) == rank(T0, a), "the same instant in another offset is the same rank"


def enrolled(name: str, time: dt.datetime | None, id: str):
    data = EnrolledData(program_id=PROGRAM.id, nip=NIP, name=name, jenjang="ahli_muda", unit_kerja="Biro Humas")
    envelope = CloudEvent(specversion="1.0", id=id, source="/simpeg", type="humas.enrolled.v1", time=time, data={})
    return envelope, data


OLD, CORRECTION, DATED = (
    enrolled("Nama Lama", None, "u1"),
    enrolled("Nama Baru", None, "u2"),
    enrolled("Nama Resmi", T0, "d1"),
)


@pytest.mark.parametrize("service", ["enrollment", "attendance"])
async def test_a_replayed_undated_event_never_beats_a_later_correction(service):
    """The same sequences give the same roster in both services."""
    book = FakeAttendanceBook()

    async def receive(event, at):
        if service == "enrollment":
            await enrollment.enroll(*event, book, now=at)
        else:
            await attendance.record_enrollment(*event, PROGRAM, book, now=at)

    await receive(OLD, T0)
    await receive(CORRECTION, T0 + dt.timedelta(hours=1))
    await receive(OLD, T0 + dt.timedelta(days=2))  # a replay: the same (source, id), its first receipt kept
    assert book.participant(PROGRAM.id, NIP).name == "Nama Baru"
    await receive(DATED, T0 + dt.timedelta(days=3))  # dated before both were received: still later than undated
    await receive(CORRECTION, T0 + dt.timedelta(days=4))
    assert book.participant(PROGRAM.id, NIP).name == "Nama Resmi"


@pytest.mark.parametrize("order", list(itertools.permutations([OLD, CORRECTION, DATED])))
async def test_whatever_the_order_a_dated_event_wins_over_undated_ones(order):
    roster = FakeRoster()
    for i, event in enumerate(order):
        await enrollment.enroll(*event, roster, now=T0 + dt.timedelta(minutes=i))
    assert (await roster.lookup(PROGRAM.id, NIP)).participant.name == "Nama Resmi"


LAST_SESSION = PROGRAM.sessions[-1].date  # 2026-09-25


@pytest.mark.parametrize(
    ("withdrawn_at", "before_end"),
    [
        (dt.datetime(2026, 9, 24, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=7))), True),
        (dt.datetime(2026, 9, 25, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=7))), False),  # its own calendar day
        (dt.datetime(2026, 10, 1, tzinfo=dt.UTC), False),
        (T0, True),
    ],
)
def test_a_withdrawal_is_before_the_end_when_dated_before_the_day_of_the_last_session(withdrawn_at, before_end):
    assert LAST_SESSION == dt.date(2026, 9, 25)
    assert domain.withdrawn_before_end(PROGRAM, withdrawn_at) is before_end


def test_a_withdrawal_before_the_end_stops_completion_on_the_rule_but_not_for_every_session():
    assert domain.withdrawal_stops_completion(PROGRAM, True, frozenset(range(1, 16)))
    assert not domain.withdrawal_stops_completion(PROGRAM, True, frozenset(range(1, 17)))
    assert not domain.withdrawal_stops_completion(PROGRAM, False, frozenset(range(1, 14)))


def attended(session):
    from shared.contract.events import AttendedData

    return AttendedData(program_id=PROGRAM.id, nip=NIP, session=session)


def withdrawal(at: dt.datetime) -> WithdrawnData:
    return WithdrawnData(program_id=PROGRAM.id, nip=NIP, reason="mutasi", withdrawn_at=at)


AFTER_LAST = dt.datetime(2026, 9, 30, tzinfo=dt.UTC)
BEFORE_LAST = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("sessions", "withdrawn_at", "completes"),
    [
        (range(1, 17), AFTER_LAST, True),
        (range(1, 17), BEFORE_LAST, True),  # reported at every session: docs/contract.md §6
        (range(1, 14), AFTER_LAST, True),  # the rule is met and the course was over when they left
        (range(1, 14), BEFORE_LAST, False),  # left before the end
        (range(1, 11), AFTER_LAST, False),  # too few anyway
    ],
)
@pytest.mark.parametrize("withdrawn_first", [True, False], ids=["withdrawn-then-attended", "attended-then-withdrawn"])
async def test_withdrawal_and_the_last_report_give_the_same_outcome_in_either_order(sessions, withdrawn_at, completes,
                                                                                  withdrawn_first):  # fmt: skip
    *earlier, last = sessions
    book = FakeAttendanceBook()
    await attendance.record_enrollment(*enrolled("Siti", T0, "e"), PROGRAM, book, AFTER_CLOSE)
    for s in earlier:
        await attendance.record_attendance(attended(s), PROGRAM, book, AFTER_CLOSE)
    steps = [attendance.record_withdrawal(withdrawal(withdrawn_at), PROGRAM, book),
             attendance.record_attendance(attended(last), PROGRAM, book, AFTER_CLOSE)]  # fmt: skip
    for step in steps if withdrawn_first else reversed(steps):
        await step
    await attendance.complete_settled(PROGRAM, book, dt.timedelta(0), AFTER_CLOSE + dt.timedelta(minutes=1))
    assert ((PROGRAM.id, NIP) in book.completed) is completes
    assert (PROGRAM.id, NIP) not in book.eligible, "nobody completed or stopped stays a sweep candidate"
