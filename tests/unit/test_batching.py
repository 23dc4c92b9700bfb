"""The micro-batcher: concurrent submissions share a flush, each gets its own result."""

import asyncio

from services.attendance import handlers
from shared.contract.events import AttendedData
from shared.platform.batching import MicroBatcher

from .fakes import FakeAttendanceBook
from .test_attendance_handlers import NIP, PROGRAM, T0, enrolled


async def test_concurrent_items_are_flushed_together_and_answered_one_by_one():
    flushes = []

    async def flush(items):
        flushes.append(list(items))
        return [item * 10 for item in items]

    batcher = MicroBatcher(flush, size=4, wait_s=0.05)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert [len(f) for f in flushes] == [4, 4, 2], "full batches at once, the rest after the wait"


async def test_a_failed_flush_fails_every_item_of_that_batch_only():
    calls = 0

    async def flush(items):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return items

    batcher = MicroBatcher(flush, size=2, wait_s=0.01)
    first = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in first)
    assert await asyncio.gather(batcher.submit("c"), batcher.submit("d")) == ["c", "d"]


async def test_a_batch_with_the_last_sessions_completes_the_participant_once():
    from shared.contract.programs import Programs
    from shared.platform.settings import REPO_ROOT

    programs = Programs.load(REPO_ROOT / "deploy" / "programs")
    book = FakeAttendanceBook()
    _, envelope, data = enrolled()
    await handlers.record_enrollment(envelope, data, PROGRAM, book, T0)
    batch = [AttendedData(program_id=PROGRAM.id, nip=NIP, session=s) for s in [*range(1, 17), 16, 15]]
    events = await handlers.record_attendance_batch(batch, programs, book, T0)
    assert sum(e is not None for e in events) == 1 and list(book.completed) == [(PROGRAM.id, NIP)]


async def test_a_batch_meeting_the_rule_marks_the_participant_eligible_for_the_sweep():
    from shared.contract.programs import Programs
    from shared.platform.settings import REPO_ROOT

    programs = Programs.load(REPO_ROOT / "deploy" / "programs")
    book = FakeAttendanceBook()
    _, envelope, data = enrolled()
    await handlers.record_enrollment(envelope, data, PROGRAM, book, T0)
    batch = [AttendedData(program_id=PROGRAM.id, nip=NIP, session=s) for s in range(1, 13)]
    assert await handlers.record_attendance_batch(batch, programs, book, T0) == [None] * 12
    assert book.eligible == {(PROGRAM.id, NIP)} and book.completed == {}, "eligible, completed later by the sweep"


async def test_a_batch_that_fails_for_one_bad_item_settles_each_item_alone():
    """One bad report must not cost its neighbours: they are written and answered, only it fails."""
    flushes = []

    async def flush(items):
        flushes.append(list(items))
        if "bad" in items:
            raise OverflowError("MongoDB can only handle up to 8-byte ints")
        return [item.upper() for item in items]

    batcher = MicroBatcher(flush, size=3, wait_s=0.05)
    results = await asyncio.gather(*(batcher.submit(i) for i in ("a", "bad", "b")), return_exceptions=True)
    assert results[0] == "A" and results[2] == "B"
    assert isinstance(results[1], OverflowError)
    assert flushes[0] == ["a", "bad", "b"] and sorted(map(tuple, flushes[1:])) == [("a",), ("b",), ("bad",)]


async def test_a_transient_failure_is_not_split_but_waited_out_by_each_submitter():
    flushes = []

    async def flush(items):
        flushes.append(list(items))
        raise ConnectionError("database down")

    batcher = MicroBatcher(flush, size=2, wait_s=0.01)
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert flushes == [["a", "b"]], "no write per item while the database is down"
