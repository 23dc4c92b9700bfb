"""The certificate service believes a `completed` only as far as the program's rule supports it."""

import datetime as dt

import pytest

from services.certificates.domain import completion_problem
from shared.contract.events import CompletedData
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

# 16 sessions, 12 of them complete it, 2 JP each.
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")


def completed(sessions, jp) -> CompletedData:
    # Unvalidated: `decode` already refuses session numbers below 1 (shared/contract/events.py); this checks the rule itself.
    return CompletedData.model_construct(program_id=PROGRAM.id, nip="198503122010011004", name="Siti Aminah",
                                         jenjang="ahli_muda", unit_kerja="Biro Humas", sessions=sessions, jp=jp,
                                         completed_at=dt.datetime(2026, 10, 9, tzinfo=dt.UTC))  # fmt: skip


@pytest.mark.parametrize("sessions", [list(range(1, 17)), list(range(1, 13)), [16, 1, *range(2, 12)]])
def test_what_the_rule_supports_passes(sessions):
    assert completion_problem(completed(sessions, 2 * len(sessions)), PROGRAM) is None


@pytest.mark.parametrize(
    ("sessions", "jp", "reason"),
    [
        ([1], 999, "1 sessions do not complete the program (it needs 12)"),
        (list(range(1, 17)), 999, "jp 999 does not match the sessions (the program gives 32)"),
        (list(range(1, 17)), 30, "jp 30 does not match"),
        ([1, 2, 3, 4], 8, "4 sessions do not complete"),
        ([*range(1, 16), 17], 32, "sessions [17] are outside 1..16"),
        ([0, *range(1, 16)], 32, "sessions [0] are outside 1..16"),
        ([-3, *range(1, 16)], 32, "sessions [-3] are outside"),
        ([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6], 24, "sessions are listed more than once"),
        ([*range(1, 17), 16], 34, "sessions are listed more than once"),
        ([], 0, "0 sessions do not complete"),
    ],
)
def test_what_the_rule_does_not_support_is_refused_with_the_reason(sessions, jp, reason):
    problem = completion_problem(completed(sessions, jp), PROGRAM)
    assert problem is not None and problem.startswith(reason), problem
    assert "198503122010011004" not in problem
