"""Operators list dead letters with their reasons and re-publish them after a fix."""

import datetime as dt
import shutil

import pytest
from pymongo import AsyncMongoClient

from devstack.upstream import cloud_event
from ops.deadletters import list_dead_letters, replay
from services.enrollment.app import Settings, create_app
from shared.settings import REPO_ROOT
from tests.support import Bus, eventually, running, unique

pytestmark = pytest.mark.integration
NEXT_YEAR = "humas-level-up-2027"


def enrolled(nip: str, program_id: str) -> dict:
    data = {"program_id": program_id, "nip": nip, "name": "Siti Aminah", "jenjang": "ahli_muda", "unit_kerja": "Biro Humas"}
    return cloud_event("enrolled", data, source="/simpeg", time=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


async def test_a_message_for_a_program_not_yet_deployed_is_replayed_after_the_fix(amqp_url, mongodb_url, tmp_path):
    programs = tmp_path / "programs"
    shutil.copytree(REPO_ROOT / "deploy" / "programs", programs)
    settings = Settings(amqp_url=amqp_url, mongodb_url=mongodb_url, mongodb_database=unique("enrollment"),
                        programs_dir=programs)  # fmt: skip
    early, garbage = enrolled("198503122010011004", NEXT_YEAR), b"\x00 not an event"
    async with running(create_app(settings)), Bus(amqp_url) as bus:
        await bus.publish("enrolled", early)
        await bus.publish("enrolled", garbage)

        async def both_set_aside():
            letters = await list_dead_letters(amqp_url, ["enrollment.enrolled"])
            return letters if len(letters) == 2 else None

        letters = await eventually(both_set_aside, what="two dead letters")
    by_id = {d.id: d for d in letters}
    assert f"unknown program '{NEXT_YEAR}'" in by_id[early["id"]].reason
    assert by_id[early["id"]].routing_key == "enrolled"
    assert len(await list_dead_letters(amqp_url, ["enrollment.enrolled"])) == 2, "listing removes nothing"

    # The fix: the 2027 programme's file is deployed and the service restarted.
    text = (programs / "humas-level-up-2026.toml").read_text().replace("humas-level-up-2026", NEXT_YEAR)
    (programs / f"{NEXT_YEAR}.toml").write_text(text.replace("year = 2026", "year = 2027"))
    async with running(create_app(settings)):
        assert await replay(amqp_url, "enrollment.enrolled", {early["id"]}) == [early["id"]]
        roster = AsyncMongoClient(mongodb_url)[settings.mongodb_database]["participants"]
        await eventually(lambda: roster.find_one({"program_id": NEXT_YEAR}), what="the replayed enrolment applied")
    remaining = await list_dead_letters(amqp_url, ["enrollment.enrolled"])
    assert [d.id for d in remaining] == [letters[1].id if letters[1].id != early["id"] else letters[0].id]
    assert remaining[0].id.startswith("sha256:"), "non-JSON bodies are identified by their hash"
