import datetime as dt

import pytest
from pydantic import ValidationError

from shared.contract.programs import CompletionRule, Program, Programs
from shared.platform.settings import REPO_ROOT


@pytest.fixture(scope="module")
def program() -> Program:
    return Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")


def test_default_program_is_16_friday_sessions_two_a_month_from_13_february(program):
    dates = [s.date for s in program.sessions]
    assert len(dates) == 16 and dates[0] == dt.date(2026, 2, 13)
    assert all(d.weekday() == 4 and d.year == 2026 for d in dates)
    per_month = {m: sum(1 for d in dates if d.month == m) for m in {d.month for d in dates}}
    assert set(per_month.values()) == {2}
    assert dates == sorted(dates)


def test_every_session_completes_and_four_never_do(program):
    rule = program.completion
    assert rule.is_complete(set(range(1, 17)))
    assert not rule.is_complete({1, 2, 3, 4})
    assert rule.is_complete(set(range(1, 13))) and not rule.is_complete(set(range(1, 12)))


def test_a_rule_that_four_sessions_could_satisfy_is_refused(program):
    data = program.model_dump()
    data["completion"] = {"min_sessions": 4}
    with pytest.raises(ValidationError, match="above 4"):
        Program.model_validate(data)


def test_presence_counts_only_from_the_minimum_minutes():
    rule = CompletionRule(min_sessions=12, min_minutes=60)
    assert rule.counts(None) and rule.counts(60) and not rule.counts(59)
    assert CompletionRule(min_sessions=12).counts(1)


def test_jp_is_per_counted_session(program):
    assert program.jp_for({1, 2, 3}) == 3 * program.jp_per_session
