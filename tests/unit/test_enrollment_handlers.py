"""The enrollment handlers on in-memory fakes: what reaches the roster and what is published.

Operator changes are published and come back through the service's own consumer (decision 6);
`deliver` plays that consumer, so a test sees the roster as the service would a moment later.
"""

import datetime as dt

import pytest

from services.enrollment import domain, handlers, roster_file
from shared import contract
from shared.contract.events import CloudEvent, EnrolledData, WithdrawnData
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

from .fakes import FakeRoster

PROGRAMS = Programs.load(REPO_ROOT / "deploy" / "programs")
PROGRAM = "humas-level-up-2026"
SITI, DEWI, AHMAD, RINA = "198503122010011004", "199001012015032001", "197805172005011002", "199203152019032002"
T0 = dt.datetime(2026, 1, 10, 8, tzinfo=dt.UTC)


class FakePublisher:
    def __init__(self):
        self.published: list[tuple[str, CloudEvent]] = []

    async def publish(self, routing_key: str, event: CloudEvent) -> None:
        self.published.append((routing_key, event))


async def deliver(publisher: FakePublisher, roster: FakeRoster) -> None:
    """What the service's own consumer does with what it published."""
    for routing_key, event in publisher.published:
        if routing_key == contract.ENROLLED:
            await handlers.enroll(event, EnrolledData.model_validate(event.data), roster)
        else:
            await handlers.record_withdrawal(WithdrawnData.model_validate(event.data), roster)


def enrolled(nip=SITI, name="Siti Aminah", unit_kerja="Biro Humas") -> EnrolledData:
    return EnrolledData(program_id=PROGRAM, nip=nip, name=name, jenjang="ahli_muda", unit_kerja=unit_kerja)


def envelope(time: dt.datetime | None, id: str = "e1") -> CloudEvent:
    return CloudEvent(specversion="1.0", id=id, source="/simpeg", type="humas.enrolled.v1", time=time, data={})


def roster_csv(*rows: tuple[str, str, str]) -> roster_file.RosterFile:
    table = [["nip", "nama", "jenjang", "unit kerja"], *([nip, name, "Ahli Muda", unit] for nip, name, unit in rows)]
    return roster_file.parse(PROGRAM, table, PROGRAMS)


async def test_enrol_records_a_participant_and_a_stale_update_changes_nothing():
    roster = FakeRoster()
    assert await handlers.enroll(envelope(T0, "new"), enrolled(name="Siti Baru"), roster)
    assert not await handlers.enroll(envelope(T0 - dt.timedelta(days=1), "old"), enrolled(name="Siti Lama"), roster)
    assert (await roster.lookup(PROGRAM, SITI)).participant.name == "Siti Baru"
    assert await handlers.enroll(envelope(T0 + dt.timedelta(days=1), "newer"), enrolled(name="Siti Terbaru"), roster)
    assert (await roster.lookup(PROGRAM, SITI)).participant.name == "Siti Terbaru"


async def test_record_withdrawal_marks_the_participant_withdrawn():
    roster = FakeRoster()
    await handlers.enroll(envelope(T0), enrolled(), roster)
    await handlers.record_withdrawal(
        WithdrawnData(program_id=PROGRAM, nip=SITI, reason="mutasi", withdrawn_at=T0), roster
    )
    entry = await roster.lookup(PROGRAM, SITI)
    assert entry.withdrawn and entry.withdrawn_at == T0 and entry.withdrawal_reason == "mutasi"
    assert entry.participant.name == "Siti Aminah", "the participant stays on the roster, withdrawn"


async def seeded_roster() -> FakeRoster:
    """Siti enrolled as in the file, Dewi with another unit kerja, Ahmad withdrawn; Rina unknown."""
    roster = FakeRoster()
    await handlers.enroll(envelope(T0, "s"), enrolled(SITI, "Siti Aminah"), roster)
    await handlers.enroll(envelope(T0, "d"), enrolled(DEWI, "Dewi Lestari", "Kanwil Jawa Barat"), roster)
    await handlers.enroll(envelope(T0, "a"), enrolled(AHMAD, "Ahmad Fauzi"), roster)
    await roster.withdraw(PROGRAM, AHMAD, "mutasi", T0)
    return roster


FILE = ((SITI, "Siti Aminah", "Biro Humas"), (DEWI, "Dewi Lestari", "Biro Humas"),
        (AHMAD, "Ahmad Fauzi", "Biro Humas"), (RINA, "Rina Kartika", "Biro Humas"))  # fmt: skip


async def test_import_counts_each_row_and_publishes_only_the_new_and_updated():
    roster, publisher = await seeded_roster(), FakePublisher()
    report = await handlers.import_roster(PROGRAM, roster_csv(*FILE), roster, publisher, dry_run=False)
    assert (report.rows, report.accepted, report.rejected) == (4, 4, 0)
    assert (report.new, report.updated, report.unchanged, report.withdrawn) == (1, 1, 1, 1)
    assert report.published == 2 and not report.dry_run
    assert [(key, e.source, e.data["nip"]) for key, e in publisher.published] == [
        (contract.ENROLLED, handlers.SOURCE, DEWI), (contract.ENROLLED, handlers.SOURCE, RINA)]  # fmt: skip
    await deliver(publisher, roster)
    assert (await roster.lookup(PROGRAM, DEWI)).participant.unit_kerja == "Biro Humas"
    assert (await roster.lookup(PROGRAM, RINA)).participant.name == "Rina Kartika"


async def test_a_dry_run_reports_the_same_and_publishes_nothing():
    roster, publisher = await seeded_roster(), FakePublisher()
    report = await handlers.import_roster(PROGRAM, roster_csv(*FILE), roster, publisher, dry_run=True)
    assert (report.new, report.updated, report.unchanged, report.withdrawn) == (1, 1, 1, 1)
    assert report.published == 0 and report.dry_run and publisher.published == []


async def test_a_reimport_of_the_same_file_publishes_nothing():
    roster, publisher = FakeRoster(), FakePublisher()
    first = await handlers.import_roster(PROGRAM, roster_csv(*FILE), roster, publisher, dry_run=False)
    assert first.new == 4 and first.published == 4
    await deliver(publisher, roster)
    again = await handlers.import_roster(PROGRAM, roster_csv(*FILE), roster, FakePublisher(), dry_run=False)
    assert again.unchanged == 4 and again.published == 0 and again.new == again.updated == 0


async def test_import_reports_rejected_rows_and_imports_the_valid_ones_it_is_given():
    parsed = roster_csv((SITI, "Siti Aminah", "Biro Humas"), ("19850312201001100X", "Salah", "Biro Humas"))
    roster, publisher = FakeRoster(), FakePublisher()
    report = await handlers.import_roster(PROGRAM, parsed, roster, publisher, dry_run=False)
    assert (report.rows, report.accepted, report.rejected, report.published) == (2, 1, 1, 1)
    assert [(e.row, e.field) for e in report.errors] == [(3, "nip")]


async def test_put_participant_publishes_a_change_and_nothing_when_unchanged():
    roster, publisher = FakeRoster(), FakePublisher()
    event = await handlers.put_participant(enrolled(), roster, publisher)
    assert event is not None and publisher.published == [(contract.ENROLLED, event)]
    await deliver(publisher, roster)
    assert await handlers.put_participant(enrolled(), roster, publisher) is None
    renamed = await handlers.put_participant(enrolled(name="Siti Aminah, M.Si."), roster, publisher)
    assert renamed is not None and renamed.data["name"] == "Siti Aminah, M.Si." and len(publisher.published) == 2


async def test_put_participant_refuses_a_withdrawn_participant():
    """The API answers 409 to this: withdrawal is final."""
    roster, publisher = FakeRoster(), FakePublisher()
    await handlers.enroll(envelope(T0), enrolled(), roster)
    await roster.withdraw(PROGRAM, SITI, "mutasi", T0)
    with pytest.raises(domain.Withdrawn, match="withdrew on 2026-01-10: withdrawal is final"):
        await handlers.put_participant(enrolled(name="Siti Kembali"), roster, publisher)
    assert publisher.published == []


async def test_withdraw_refuses_someone_not_enrolled():
    roster, publisher = FakeRoster(), FakePublisher()
    with pytest.raises(domain.NotEnrolled):
        await handlers.withdraw(PROGRAM, SITI, "mutasi", roster, publisher, now=T0)
    await roster.withdraw(PROGRAM, SITI, "mutasi", T0)  # a withdrawal that arrived before any enrollment
    with pytest.raises(domain.NotEnrolled):
        await handlers.withdraw(PROGRAM, SITI, "mutasi", roster, publisher, now=T0)
    assert publisher.published == []


async def test_withdraw_publishes_and_a_second_withdrawal_keeps_the_first_date():
    roster, publisher = FakeRoster(), FakePublisher()
    await handlers.enroll(envelope(T0), enrolled(), roster)
    first = await handlers.withdraw(PROGRAM, SITI, "mutasi", roster, publisher, now=T0)
    assert publisher.published == [(contract.WITHDRAWN, first)] and first.source == handlers.SOURCE
    await deliver(publisher, roster)
    later = T0 + dt.timedelta(days=30)
    second = await handlers.withdraw(PROGRAM, SITI, "pensiun", roster, publisher, now=later)
    assert WithdrawnData.model_validate(second.data).withdrawn_at == T0
    assert (await roster.lookup(PROGRAM, SITI)).withdrawn_at == T0
