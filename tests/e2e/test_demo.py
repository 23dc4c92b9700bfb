"""README command 1's demo, on the three service processes: roster CSV through the operator
API, attendance as upstream events, every expected certificate, the summary table."""

import pytest

from devstack import demo
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT
from tests.e2e.conftest import OPERATOR_KEY

pytestmark = pytest.mark.e2e
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")


async def test_the_demo_issues_every_expected_certificate_and_prints_the_summary(system, capsys):
    urls = {name: s.url for name, s in system.services.items()}
    services = demo.Services(urls["enrollment"], urls["attendance"], urls["certificates"], OPERATOR_KEY)
    result = await demo.run_demo(system.amqp_urls["upstream"], services, PROGRAM, 60, timeout=120)
    assert set(result["issued"]) == result["expected"] and 40 < len(result["expected"]) < 60
    assert {p.jenjang for p in result["people"]} == set(demo.JENJANG_MIX), "the seed's jenjang mix"
    demo.print_summary(result, PROGRAM)
    out = capsys.readouterr().out
    assert "roster imported: 60 published" in out
    total = next(line for line in out.splitlines() if line.startswith("Jumlah")).split()
    assert total[1:] == [
        "60",
        str(len(result["expected"])),
        str(len(result["expected"])),
        str(60 - len(result["expected"])),
    ]
    assert all(row["status"] == "sah" for row in result["issued"].values())
