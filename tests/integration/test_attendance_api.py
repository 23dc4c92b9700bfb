"""The attendance service's operator API on the real servers: progress, sheets, counts. Uses a
second program written as configuration only (with a minimum of minutes per session)."""

import shutil

import pytest

from devstack.upstream import cloud_event
from services.attendance.app import Settings, create_app
from shared.platform.auth import hash_key, new_key
from shared.platform.settings import REPO_ROOT
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
KEY = new_key()
AUTH = {"X-API-Key": KEY}
P = "uji-coba-2026"
ALL, SHORT, FEW = "198503122010011004", "199001012015032001", "198712242011012009"


@pytest.fixture
def programs_dir(tmp_path):
    """The default program plus a second one that differs only in configuration."""
    shutil.copy(REPO_ROOT / "deploy" / "programs" / "humas-level-up-2026.toml", tmp_path)
    text = (REPO_ROOT / "deploy" / "programs" / "humas-level-up-2026.toml").read_text()
    text = text.replace('id = "humas-level-up-2026"', f'id = "{P}"').replace("# min_minutes = 60", "min_minutes = 60")
    (tmp_path / f"{P}.toml").write_text(text)
    return tmp_path


def enrolled(nip, name, jenjang, unit):
    data = {"program_id": P, "nip": nip, "name": name, "jenjang": jenjang, "unit_kerja": unit}
    return "enrolled", cloud_event("enrolled", data, source="/simpeg")


def attended(nip, session, minutes):
    return "attended", cloud_event("attended", {"program_id": P, "nip": nip, "session": session, "minutes": minutes})


async def test_progress_sheets_and_counts(amqp_url, mongodb_url, programs_dir):
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("attendance"),
                        programs_dir=programs_dir, settle_seconds=3600, operator_api_keys=f"ops:{hash_key(KEY)}")  # fmt: skip
    events = [enrolled(ALL, "Putu Ayu", "ahli_pertama", "Kanwil Bali"), enrolled(SHORT, "Dewi", "ahli_muda", "Kanwil Bali"),
              enrolled(FEW, "Rina", "ahli_pertama", "Biro Humas")]  # fmt: skip
    events += [attended(ALL, s, 110) for s in range(1, 17)]
    events += [attended(SHORT, s, 110) for s in range(1, 13)] + [attended(SHORT, 13, 30)]  # 13th too short
    events += [attended(FEW, s, 90) for s in (1, 2, 3, 4)]
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        completed = await bus.watch("completed")
        for routing_key, event in events:
            await bus.publish(routing_key, event)
        await completed.until(lambda evts: len(evts) == 1, what="the full attendee's completion")

        async def all_recorded():
            sheet = (await http.get(f"/api/attendance/{P}/sessions/13", headers=AUTH)).json()
            return sheet["present"] == 2 and sheet

        sheet = await eventually(all_recorded, what="session 13's sheet")
        assert sheet["counted"] == 1 and sheet["min_minutes"] == 60
        short = next(r for r in sheet["participants"] if r["nip"] == SHORT)
        assert short["minutes"] == 30 and short["counted"] is False, "recorded and shown, not counted"

        progress = (await http.post(f"/api/attendance/{P}/progress", json={"nip": SHORT}, headers=AUTH)).json()
        assert progress["sessions_counted"] == list(range(1, 13)) and progress["sessions_recorded_not_counted"] == [13]
        assert progress["jp"] == 24 and progress["sessions_remaining"] == 0 and progress["can_still_complete"] is True
        full = (await http.post(f"/api/attendance/{P}/progress", json={"nip": ALL}, headers=AUTH)).json()
        assert full["presence_minutes"] == {str(s): 110 for s in range(1, 17)}, "every presence stored where it belongs"
        few = (await http.post(f"/api/attendance/{P}/progress", json={"nip": FEW}, headers=AUTH)).json()
        assert few["can_still_complete"] is False and few["status"] == "cannot_complete"

        listing = (
            await http.get(f"/api/attendance/{P}/participants", params={"can_still_complete": "false"}, headers=AUTH)
        ).json()
        assert [p["nip"] for p in listing["participants"]] == [FEW]
        by_unit = (
            await http.get(f"/api/attendance/{P}/participants", params={"unit_kerja": "Kanwil Bali"}, headers=AUTH)
        ).json()
        assert by_unit["total"] == 2

        summary = (await http.get(f"/api/attendance/{P}/summary", headers=AUTH)).json()
        assert summary["total"] == {"enrolled": 3, "completed": 1, "in_progress": 1, "cannot_complete": 1}
        assert summary["by_jenjang"]["ahli_pertama"] == {"enrolled": 2, "completed": 1, "cannot_complete": 1}
        assert summary["by_unit_kerja"]["Kanwil Bali"] == {"enrolled": 2, "completed": 1, "in_progress": 1}

        assert (await http.get(f"/api/attendance/{P}/summary")).status_code == 401
        assert (await http.get(f"/api/attendance/{P}/sessions/17", headers=AUTH)).status_code == 404
        assert (await http.get("/api/attendance/nope/summary", headers=AUTH)).status_code == 404
        assert (
            await http.post(f"/api/attendance/{P}/progress", json={"nip": "199912312020121999"}, headers=AUTH)
        ).status_code == 404
