"""The operator console in a real browser (Playwright driving Debian's Chromium) on the real
services: the whole operator journey of issue 14, axe-core on every page, screenshots at desktop
and phone widths in artefacts/console-<page>-<width>.png."""

import csv
import datetime as dt
import io
import json
import random
import re
import shutil

import httpx
import pytest
from playwright.async_api import expect

from devstack import processes
from devstack.demo import make_nip
from devstack.servers import free_port
from devstack.upstream import cloud_event
from services.console.security import hash_password
from shared.platform.settings import REPO_ROOT
from tests.e2e.conftest import CONSOLE_KEY, OPERATOR_KEY
from tests.support import Bus

pytestmark = pytest.mark.e2e
PROGRAM = "humas-level-up-2026"
PASSWORD = "sandi-uji-" + "x" * 12
AXE = REPO_ROOT / ".tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
AXE_SOURCE = AXE.read_text() + "\n;true" if AXE.exists() else ""
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def console(system, tmp_path):
    port = free_port()
    env = {"CONSOLE_USERS": f"siti:{hash_password(PASSWORD)},budi:{hash_password('lain-' + PASSWORD)}",
           "CONSOLE_API_KEY": CONSOLE_KEY, "AMQP_URL": system.amqp_urls["operator"],
           "ENROLLMENT_URL": f"http://127.0.0.1:{system.ports['enrollment']}",
           "ATTENDANCE_URL": f"http://127.0.0.1:{system.ports['attendance']}",
           "CERTIFICATES_URL": system.base, "CONSOLE_POLL_SECONDS": "1", "LOG_LEVEL": "info"}  # fmt: skip
    service = processes.start("console", port, env, tmp_path)
    processes.wait_ready(service)
    yield service
    codes = processes.stop([service])
    assert processes.stopped_cleanly(service, codes[service.log.stem]), service.log.read_text()[-2000:]


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright  # noqa: PLC0415 (dev dependency)

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/test installs Debian's package)")
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE} (scripts/test installs it)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


class Journey:
    """One browser page; remembers every URL it requested and checks each page it shows."""

    def __init__(self, page, artefacts):
        self.page, self.artefacts = page, artefacts
        self.urls: list[str] = []
        self.checked: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    async def look(self, name: str) -> None:
        """axe-core (no serious or critical violations) and screenshots at both widths."""
        # The dashboard polls: hold it still while axe reads the page (the next page loads afresh).
        await self.page.evaluate("document.body.addEventListener('htmx:beforeRequest', e => e.preventDefault())")
        for width, height in WIDTHS.values():
            await self.page.set_viewport_size({"width": width, "height": height})
            await self.page.evaluate(AXE_SOURCE)  # over DevTools: the page's strict CSP stays in force
            result = await self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
            assert not bad, f"{name} at {width}px: {bad}"
            await self.page.screenshot(path=str(self.artefacts / f"console-{name}-{width}.png"), full_page=True)
        await self.page.set_viewport_size({"width": 1280, "height": 900})
        self.checked.append(name)


def roster_file(people: list[tuple[str, str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["nip", "nama", "jenjang", "unit kerja"])
    writer.writerows(people)
    return out.getvalue().encode()


async def test_the_operator_journey_in_a_real_browser(system, console, browser, amqp_url, artefacts):
    rng = random.Random(14)
    nips = [make_nip(rng, i) for i in range(1, 6)]
    people = [(nips[0], "Siti Rahmawati, S.I.Kom.", "Ahli Pertama", "Biro Humas"),
              (nips[1], "Andi Maulana, S.Sos.", "Ahli Muda", "Kanwil Kemenag Provinsi Aceh"),
              (nips[2], "Dewi Lestari, S.E.", "Ahli Muda", "Biro Humas"),
              (nips[3], "Bagus Pratama", "Terampil", "Kankemenag Kota Jayapura"),
              (nips[4], "Rina Wulandari, S.Sos.", "Penyelia", "Biro Humas")]  # fmt: skip
    sessions = {nips[0]: range(1, 17), nips[1]: [s for s in range(1, 17) if s not in (3, 9)], nips[2]: range(1, 17),
                nips[3]: range(1, 4), nips[4]: range(1, 13)}  # fmt: skip
    base = console.url + "/console"
    page = await (await browser.new_context(accept_downloads=True, locale="id-ID")).new_page()
    j = Journey(page, artefacts)

    # Sign in: a wrong password is refused, then the right one opens the dashboard.
    await page.goto(base + "/")
    assert page.url.endswith("/console/masuk")
    await j.look("login")
    await page.fill("#nama", "siti")
    await page.fill("#kata_sandi", "salah")
    await page.click("button[type=submit]")
    assert "kata sandi salah" in await page.inner_text("[role=alert]")
    await page.fill("#kata_sandi", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "konsol_sesi")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"

    # A form post without its CSRF token is refused, with the browser's own session cookie.
    refused = await page.request.post(base + "/roster/mundur", form={"nip": nips[0], "alasan": "x", "yakin": "ya"})
    assert refused.status == 403

    # A garbage message for the dead-letter count; then the dashboard before any attendance.
    async with Bus(amqp_url) as bus:
        await bus.publish("attended", b"not json at all")
    await page.reload()
    await j.look("dashboard-empty")

    # Roster: one bad row (a 17-digit NIP) is reported with its spreadsheet row number.
    bad = [*people[:2], (nips[2][:-1], *people[2][1:]), *people[3:]]
    await page.click("nav >> text=Daftar peserta")
    await page.set_input_files(
        "#berkas", files=[{"name": "peserta.csv", "mimeType": "text/csv", "buffer": roster_file(bad)}]
    )
    await page.click("text=Periksa berkas")
    errors = await page.inner_text("#galat-baris")
    assert re.search(r"^4\s+NIP", errors, re.M), errors  # header is row 1: the third person is row 4
    assert await page.locator("#impor").count() == 0, "nothing to import while rows have errors"
    await j.look("roster-errors")
    await page.set_input_files(
        "#berkas", files=[{"name": "peserta.csv", "mimeType": "text/csv", "buffer": roster_file(people)}]
    )
    await page.click("text=Periksa berkas")
    assert "lolos pemeriksaan" in await page.inner_text("#hasil-periksa")
    await j.look("roster-checked")
    await page.click("#impor")
    assert "5 peserta baru" in await page.inner_text("#hasil-impor")

    # Replay the attendance as upstream would, while the dashboard is open: it fills by itself.
    await page.click("nav >> text=Dasbor")
    assert await page.inner_text("#sesi-1-dihitung") == "0"
    async with Bus(amqp_url) as bus:
        for nip, numbers in sessions.items():
            for s in numbers:
                data = {"program_id": PROGRAM, "nip": nip, "session": s, "minutes": 110}
                await bus.publish(
                    "attended", cloud_event("attended", data, time=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
                )
    # Without reloading: htmx polls the panel (Playwright's own polling, no eval under the page's CSP).
    await expect(page.locator("#sesi-1-dihitung")).to_have_text("5", timeout=30_000)
    await expect(page.locator("#kpi-sertifikat")).to_have_text("4", timeout=90_000)
    assert await page.inner_text("#kpi-peserta") == "5"
    assert int(await page.inner_text("#kpi-ditolak")) >= 1
    await j.look("dashboard")

    # Dead letters: the list says why.
    await page.click("#kpi-ditolak")
    assert "pesan ditolak" in (await page.inner_text("caption")).lower()
    await j.look("dead-letters")

    # Find a participant by name (the query travels in the form body), see the grid.
    await page.click("nav >> text=Cari peserta")
    await page.fill("#q", "maulana")
    await page.click("form[role=search] button")
    await j.look("participant-search")
    await page.click("text=Lihat")
    assert await page.inner_text("#jp") == "28"
    assert await page.locator(".sessions .cell.counted").count() == 14
    assert await page.locator(".sessions .cell.absent").count() == 2
    assert "Sah" in await page.inner_text("#sertifikat-peserta")
    await j.look("participant")
    # And by NIP.
    await page.click("nav >> text=Cari peserta")
    await page.fill("#q", nips[3])
    await page.click("form[role=search] button")
    assert await page.inner_text("#status-peserta") == "Tidak bisa lulus lagi"

    # Certificates: the list, one certificate, revoke it with a reason and a confirmation.
    await page.click("nav >> text=Sertifikat")
    await j.look("certificates")
    await page.select_option("#f-jenjang", "ahli_pertama")
    await page.click("text=Saring")
    assert "1 sertifikat" in await page.inner_text("caption")
    await page.click("tbody a")
    await j.look("certificate")
    verify_url = await page.get_attribute("#tautan-verifikasi", "href")
    await page.click("text=Cabut sertifikat")
    await page.fill("#alasan", "diterbitkan karena kesalahan data kehadiran")
    await page.click("text=Lanjut")
    await j.look("revoke-confirm")
    await page.click("#ya-cabut")
    assert await page.inner_text("#status-sertifikat") == "Dicabut"
    assert "console:siti" in await page.inner_text("td.oleh >> nth=-1"), "history names the person, not the console"
    verify = await browser.new_page()
    await verify.goto(verify_url)
    assert "DICABUT" in (await verify.inner_text("body")).upper()
    await verify.close()

    # Re-issue another one with a corrected name.
    await page.click("nav >> text=Sertifikat")
    await page.select_option("#f-jenjang", "penyelia")
    await page.click("text=Saring")
    await page.click("tbody a")
    await page.click("text=Terbitkan ulang dengan perbaikan")
    await j.look("reissue")
    await page.fill("#r-nama", "Rina Wulandari, S.Sos., M.I.Kom.")
    await page.fill("#r-alasan", "perbaikan penulisan gelar")
    await page.click("form.card button[type=submit]")
    assert "revisi 2" in await page.inner_text("[role=status]")

    # Exports: the HR CSV and the SIASN export (CSV and JSON), downloaded by the browser.
    await page.click("nav >> text=Ekspor")
    await j.look("exports")
    files = {}
    for link in ("#ekspor-csv", "#ekspor-siasn-csv", "#ekspor-siasn-json"):
        async with page.expect_download() as info:
            await page.click(link)
        download = await info.value
        files[link] = (await download.path()).read_bytes()
    async with httpx.AsyncClient(headers={"X-API-Key": OPERATOR_KEY}) as http:
        valid = (
            await http.get(f"{system.base}/api/certificates", params={"program_id": PROGRAM, "status": "valid"})
        ).json()
    valid = valid["certificates"]
    assert len(valid) == 3  # four issued, one revoked, one re-issued (its old revision superseded)
    hr = list(csv.DictReader(io.StringIO(files["#ekspor-csv"].decode("utf-8-sig"))))
    assert sorted(r["nomor"] for r in hr) == sorted(c["number"] for c in valid)
    siasn_csv = list(csv.DictReader(io.StringIO(files["#ekspor-siasn-csv"].decode("utf-8-sig"))))
    siasn_json = json.loads(files["#ekspor-siasn-json"])
    expected = {(c["nip"], c["number"], c["jp"]) for c in valid}
    assert {(r["nip"], r["nomorSertipikat"], int(r["jumlahJam"])) for r in siasn_csv} == expected
    assert {(r["nip"], r["nomorSertipikat"], r["jumlahJam"]) for r in siasn_json} == expected
    assert len(siasn_csv) == len(siasn_json) == len(valid)
    for row in siasn_json:
        assert row["tanggalKursus"] == "13-02-2026" and row["tanggalSelesaiKursus"] == "25-09-2026"
        assert row["tahunKursus"] == 2026 and row["namaKursus"] == "Humas Level Up 2026" and row["jenisKursus"]

    # Sign out; the pages are closed again.
    await page.click("text=Keluar")
    await page.wait_for_url(base + "/masuk")
    await page.goto(base + "/sertifikat")
    assert page.url.endswith("/console/masuk")

    # No NIP in any URL the browser asked for, nor in any log line above debug.
    assert not [u for u in j.urls if any(n in u for n in nips)], [u for u in j.urls if any(n in u for n in nips)]
    for log in [console.log, *(s.log for s in system.services.values())]:
        for line in log.read_text(errors="replace").splitlines():
            if any(n in line for n in nips):
                level = json.loads(line).get("level") if line.startswith("{") else "unknown"
                assert level == "debug", f"{log.name}: {line[:300]}"
    assert len(j.checked) >= 10


async def test_wrong_passwords_are_rate_limited(console, browser):
    page = await browser.new_page()
    base = console.url + "/console"
    statuses = []
    for _ in range(6):
        await page.goto(base + "/masuk")
        await page.fill("#nama", "budi")
        await page.fill("#kata_sandi", "tebakan")
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.click("button[type=submit]")
        statuses.append((await answer.value).status)
    assert statuses == [401] * 5 + [429], statuses
    assert "Terlalu banyak percobaan" in await page.inner_text("[role=alert]")
