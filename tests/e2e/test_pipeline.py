"""The three services as separate processes, driven only through the contract."""

import asyncio
import datetime as dt
import hashlib
import io
import random
import shutil
import subprocess

import httpx
import pytest
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from devstack.demo import make_nip
from devstack.upstream import cloud_event
from tests.support import Bus, eventually

pytestmark = pytest.mark.e2e
PROGRAM = "humas-level-up-2026"


def browser_screenshot(url: str, out, width: int = 412, height: int = 1500):
    """The verification page as a phone shows it, in real headless Chromium (Debian's)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/test installs Debian's package)")
    out.unlink(missing_ok=True)
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=90)  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


async def test_a_year_through_the_contract_ends_in_verifiable_certificates(system, amqp_url, artefacts):
    rng = random.Random(13)
    people = {
        "all16": (make_nip(rng, 1), "Dra. Hj. Nur'aini Siregar, M.Si.", range(1, 17)),
        "fourteen": (make_nip(rng, 2), "I Gusti Ngurah Rai", [s for s in range(1, 17) if s not in (3, 9)]),
        "four": (make_nip(rng, 3), "Budi Santoso", range(1, 5)),
    }
    events = []
    for nip, name, sessions in people.values():
        data = {"program_id": PROGRAM, "nip": nip, "name": name, "jenjang": "ahli_pertama", "unit_kerja": "Biro Humas"}
        events.append(("enrolled", cloud_event("enrolled", data, source="/simpeg")))
        for s in sessions:
            data = {"program_id": PROGRAM, "nip": nip, "session": s, "minutes": 110}
            events.append(("attended", cloud_event("attended", data, time=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))))
    events += rng.sample(events, 8)
    rng.shuffle(events)
    async with Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        await bus.publish("attended", b"garbage that is not JSON")
        for routing_key, event in events:
            await bus.publish(routing_key, event)
        wanted = {people["all16"][0], people["fourteen"][0]}
        await issued.until(lambda evts: {e["data"]["nip"] for e in evts} >= wanted, 60, "two certificates")

    by_nip = {e["data"]["nip"]: e["data"] for e in issued.events}
    async with httpx.AsyncClient(timeout=10) as http:
        for key in ("all16", "fourteen"):
            nip, name, sessions = people[key]
            data = by_nip[nip]
            assert data["url"].startswith(system.base) and nip not in data["url"] + data["verify_url"]
            pdf = await http.get(data["url"])
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert hashlib.sha256(pdf.content).hexdigest() == data["sha256"]
            text = "".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
            assert "".join(name.split()) in text and nip in text.replace(" ", "")
            assert f"{2 * len(list(sessions))}jampelajaran" in text
            verify = (await http.get(data["verify_url"], headers={"Accept": "application/json"})).json()
            assert verify["status"] == "valid" and verify["sha256"] == data["sha256"] and verify["name"] == name
            assert verify["signature"]["intact"], "signed with the configured key, intact as stored"
            credential = await http.get(data["credential_url"])
            assert credential.status_code == 200 and credential.headers["content-type"] == "application/vc+jwt"
            if key == "all16":  # for checks with tools of others' making (pdfsig, qpdf --list-attachments)
                (artefacts / "certificate-with-credential.pdf").write_bytes(pdf.content)
    screenshot = await asyncio.to_thread(
        browser_screenshot, by_nip[people["all16"][0]]["verify_url"], artefacts / "verify-page.png"
    )
    assert screenshot.stat().st_size > 10_000, "a rendered page, not a blank one"

    mongo = AsyncMongoClient(system.mongodb_url, tz_aware=True)
    certificates = mongo[system.databases["certificates"]]["certificates"]
    attendance = mongo[system.databases["attendance"]]["participants"]
    dropout = people["four"][0]

    async def dropout_recorded():
        doc = await attendance.find_one({"nip": dropout})
        return doc is not None and len(doc.get("presence", {})) == 4 and "completed" not in doc

    await eventually(dropout_recorded, what="the dropout's four presences, and no completion")
    assert await certificates.count_documents({}) == 2, "one certificate each, none for four sessions"
    roster = mongo[system.databases["enrollment"]]["participants"]
    assert await roster.count_documents({}) == 3
