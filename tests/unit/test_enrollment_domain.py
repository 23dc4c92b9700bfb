"""The roster's rules (services/enrollment/domain.py): pure, no server, no fake."""

import dataclasses
import datetime as dt

import pytest

from services.enrollment import domain
from services.enrollment.domain import Change, ImportPlan, RosterEntry
from services.enrollment.roster_file import RosterFile, RowError
from shared.contract.events import EnrolledData
from shared.contract.participant import Participant

PROGRAM = "humas-level-up-2026"
NIP = "198503122010011004"
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
DATA = EnrolledData(program_id=PROGRAM, nip=NIP, name="Siti Aminah", jenjang="ahli_muda", unit_kerja="Biro Humas")
AS_ENROLLED = Participant.from_event(DATA)

NOT_ON_ROSTER = RosterEntry(None)
SAME = RosterEntry(AS_ENROLLED)
OTHER_UNIT = RosterEntry(dataclasses.replace(AS_ENROLLED, unit_kerja="Kanwil Jawa Barat"))
WITHDRAWN = RosterEntry(AS_ENROLLED, withdrawn_at=T0, withdrawal_reason="mutasi")
WITHDRAWN_UNENROLLED = RosterEntry(None, withdrawn_at=T0, withdrawal_reason="mutasi")  # withdrawal arrived first


@pytest.mark.parametrize(
    ("entry", "change"),
    [
        (NOT_ON_ROSTER, Change.NEW),
        (SAME, Change.UNCHANGED),
        (OTHER_UNIT, Change.UPDATED),
        (RosterEntry(dataclasses.replace(AS_ENROLLED, email="siti@example.go.id")), Change.UPDATED),
        (WITHDRAWN, Change.WITHDRAWN),
        (WITHDRAWN_UNENROLLED, Change.WITHDRAWN),
        (dataclasses.replace(OTHER_UNIT, withdrawn_at=T0), Change.WITHDRAWN),
    ],
)
def test_a_row_is_new_unchanged_updated_or_withdrawn(entry, change):
    assert domain.classify(entry, DATA) is change


def test_only_new_and_updated_rows_are_published():
    assert {c for c in Change if c.publishes} == {Change.NEW, Change.UPDATED}


@pytest.mark.parametrize(
    ("entry", "change"), [(NOT_ON_ROSTER, Change.NEW), (SAME, Change.UNCHANGED), (OTHER_UNIT, Change.UPDATED)]
)
def test_an_operator_may_add_or_update_anyone_not_withdrawn(entry, change):
    assert domain.edit(entry, DATA) is change


@pytest.mark.parametrize("entry", [WITHDRAWN, WITHDRAWN_UNENROLLED], ids=["enrolled", "never-enrolled"])
def test_an_operator_edit_of_a_withdrawn_participant_is_refused(entry):
    with pytest.raises(domain.Withdrawn, match="withdrew on 2026-03-02: withdrawal is final"):
        domain.edit(entry, DATA)


def test_a_withdrawal_is_dated_now_for_an_enrolled_participant():
    data = domain.withdrawal(SAME, PROGRAM, NIP, "mutasi", T0)
    assert (data.program_id, data.nip, data.reason, data.withdrawn_at) == (PROGRAM, NIP, "mutasi", T0)


def test_a_second_withdrawal_keeps_the_date_of_the_first():
    data = domain.withdrawal(WITHDRAWN, PROGRAM, NIP, "pensiun", T0 + dt.timedelta(days=30))
    assert data.withdrawn_at == T0 and data.reason == "pensiun"


@pytest.mark.parametrize("entry", [NOT_ON_ROSTER, WITHDRAWN_UNENROLLED], ids=["unknown", "withdrawn-first"])
def test_withdrawing_someone_not_enrolled_is_refused(entry):
    with pytest.raises(domain.NotEnrolled):
        domain.withdrawal(entry, PROGRAM, NIP, "mutasi", T0)


CLEAN = RosterFile(rows=1, accepted=[(2, DATA)])
WITH_ERRORS = RosterFile(rows=2, accepted=[(2, DATA)], errors=[RowError(3, "nip", "NIP must be exactly 18 digits")])


@pytest.mark.parametrize(
    ("parsed", "dry_run", "accept_valid_rows", "plan"),
    [
        (CLEAN, False, False, ImportPlan(publish=True)),
        (CLEAN, True, False, ImportPlan(publish=False)),
        (CLEAN, False, True, ImportPlan(publish=True)),
        (WITH_ERRORS, False, False, ImportPlan(publish=False, refusal=domain.REFUSED_IMPORT)),  # all or nothing
        (WITH_ERRORS, True, False, ImportPlan(publish=False)),  # a dry run shows the errors, never refused
        (WITH_ERRORS, False, True, ImportPlan(publish=True)),  # the operator asked for the valid rows
        (WITH_ERRORS, True, True, ImportPlan(publish=False)),
    ],
)
def test_an_import_with_errors_imports_nothing_unless_the_valid_rows_are_accepted(
    parsed, dry_run, accept_valid_rows, plan
):
    assert domain.plan_import(parsed, dry_run=dry_run, accept_valid_rows=accept_valid_rows) == plan


def test_the_refusal_says_how_to_proceed():
    assert "nothing imported" in domain.REFUSED_IMPORT and "accept_valid_rows=true" in domain.REFUSED_IMPORT


def test_the_report_counts_a_row_with_several_errors_once():
    errors = [RowError(3, "nip", "NIP must be exactly 18 digits"), RowError(3, "jenjang", "unknown jenjang"),
              RowError(5, None, "7 cells for 5 columns")]  # fmt: skip
    report = domain.ImportReport.of(PROGRAM, RosterFile(rows=4, accepted=[(2, DATA)], errors=errors), dry_run=True)
    assert (report.rows, report.accepted, report.rejected, report.errors, report.dry_run) == (4, 1, 2, errors, True)


def test_the_report_counts_each_change_under_its_own_name():
    report = domain.ImportReport.of(PROGRAM, RosterFile(), dry_run=False)
    for change in (Change.NEW, Change.NEW, Change.UPDATED, Change.UNCHANGED, Change.WITHDRAWN, Change.WITHDRAWN):
        report.count(change)
    assert (report.new, report.updated, report.unchanged, report.withdrawn, report.published) == (2, 1, 1, 2, 0)
