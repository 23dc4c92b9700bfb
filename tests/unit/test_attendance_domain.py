"""The completion verdict (services/attendance/domain.py): every outcome, from facts alone, no server."""

import datetime as dt

import pytest

from services.attendance.domain import Attendee, Outcome, verdict
from shared.contract.participant import Participant
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

# 16 sessions, 12 of them complete it, 2 JP each; closes 9 October 2026.
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
NIP = "198503122010011004"
SITI = Participant(program_id=PROGRAM.id, nip=NIP, name="Siti Aminah", jenjang="ahli_muda", unit_kerja="Biro Humas")
OPEN = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
CLOSED = dt.datetime.combine(PROGRAM.closing_date, dt.time(9), dt.UTC)
EVERY, RULE_MET, SHORT = frozenset(range(1, 17)), frozenset(range(1, 14)), frozenset(range(1, 12))


def attendee(counted=RULE_MET, participant=SITI, **flags) -> Attendee:
    return Attendee(PROGRAM.id, NIP, participant, frozenset(counted), **flags)


@pytest.mark.parametrize(("now", "settled"), [(OPEN, False), (OPEN, True), (CLOSED, False), (CLOSED, True)])
def test_every_session_completes_at_once_whatever_the_date_or_the_quiet(now, settled):
    v = verdict(PROGRAM, attendee(EVERY), now, settled=settled)
    assert v.outcome is Outcome.COMPLETE and v.eligible is False and v.why is None
    assert v.completed.model_dump() == {
        "program_id": PROGRAM.id,
        "nip": NIP,
        "name": "Siti Aminah",
        "jenjang": "ahli_muda",
        "unit_kerja": "Biro Humas",
        "sessions": list(range(1, 17)),
        "jp": 32,
        "completed_at": now,
    }
    assert v.despite_withdrawal, "every session attended: a withdrawal landing first must not stop the write"


def test_the_rule_met_completes_once_the_program_closed_and_the_reports_settled():
    v = verdict(PROGRAM, attendee(RULE_MET, eligible=True), CLOSED, settled=True)
    assert v.outcome is Outcome.COMPLETE and v.eligible is False
    assert v.completed.sessions == list(range(1, 14)) and v.completed.jp == 26 and v.completed.completed_at == CLOSED
    assert not v.despite_withdrawal, "on the rule alone, a withdrawal before the end that lands first wins"


def test_a_withdrawal_on_or_after_the_last_session_day_takes_nothing_away():
    v = verdict(PROGRAM, attendee(RULE_MET, withdrawn=True, withdrawn_before_end=False), CLOSED, settled=True)
    assert v.outcome is Outcome.COMPLETE and not v.despite_withdrawal


def test_every_session_completes_despite_a_withdrawal_before_the_end():
    v = verdict(PROGRAM, attendee(EVERY, withdrawn=True, withdrawn_before_end=True), OPEN)
    assert v.outcome is Outcome.COMPLETE and v.despite_withdrawal and v.completed.sessions == list(range(1, 17))


@pytest.mark.parametrize(
    ("now", "settled"), [(OPEN, False), (OPEN, True), (CLOSED, False)], ids=["open", "open-quiet", "closed-busy"]
)
def test_the_rule_met_waits_while_the_program_is_open_or_reports_still_come(now, settled):
    """More sessions, hence more JP, may still come: the certificate would under-credit them."""
    v = verdict(PROGRAM, attendee(RULE_MET), now, settled=settled)
    assert v.outcome is Outcome.ELIGIBLE_WAITING and v.eligible is True
    assert v.completed is None and v.why is None and not v.despite_withdrawal


@pytest.mark.parametrize(
    "counted", [frozenset(), SHORT, frozenset({13, 14, 15, 16})], ids=lambda c: f"{len(c)}-counted"
)
@pytest.mark.parametrize(("now", "settled"), [(OPEN, False), (CLOSED, True)])
def test_too_few_sessions_are_not_yet_complete_and_not_a_sweep_candidate(counted, now, settled):
    v = verdict(PROGRAM, attendee(counted), now, settled=settled)
    assert v.outcome is Outcome.NOT_YET and v.eligible is False and v.completed is None and v.why is None


def test_a_stale_eligible_flag_under_the_rule_is_to_be_cleared():
    assert verdict(PROGRAM, attendee(SHORT, eligible=True), OPEN).eligible is False


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        ({"counted": EVERY, "participant": None}, "not_enrolled"),  # completes once the enrollment arrives
        ({"counted": RULE_MET, "participant": None}, "not_enrolled"),
        ({"counted": EVERY, "completed": True}, "completed"),
        ({"counted": RULE_MET, "completed": True, "withdrawn": True, "withdrawn_before_end": True}, "completed"),
        ({"counted": RULE_MET, "withdrawn": True, "withdrawn_before_end": True}, "withdrawn_before_end"),
        ({"counted": frozenset(range(1, 16)), "withdrawn": True, "withdrawn_before_end": True}, "withdrawn_before_end"),
    ],
)
@pytest.mark.parametrize("flag", [False, True], ids=["unflagged", "stale-flag"])
def test_nothing_to_complete_now_and_never_a_sweep_candidate(facts, why, flag):
    v = verdict(PROGRAM, attendee(**facts, eligible=flag), CLOSED, settled=True)
    assert v.outcome is Outcome.NEVER and v.why == why
    assert v.eligible is False, "a flag left set would hold a place in every sweep chunk"
    assert v.completed is None and not v.despite_withdrawal


def test_the_verdict_reads_the_program_rule_not_a_fixed_twelve():
    ten = PROGRAM.model_copy(update={"completion": PROGRAM.completion.model_copy(update={"min_sessions": 10})})
    assert verdict(ten, attendee(frozenset(range(1, 11))), OPEN).outcome is Outcome.ELIGIBLE_WAITING
    assert verdict(ten, attendee(frozenset(range(1, 11))), CLOSED, settled=True).outcome is Outcome.COMPLETE
    assert verdict(PROGRAM, attendee(frozenset(range(1, 11))), CLOSED, settled=True).outcome is Outcome.NOT_YET
