"""The year of Humas Level Up at its real scale, driven the way it will be in production:
the bureau imports the roster as CSV through the operator API, the learning platform reports
attendance as events, and certificates appear. Ends with a summary table and a few URLs."""

import asyncio
import csv
import datetime as dt
import io
import random
import time
from collections import Counter
from dataclasses import dataclass

import httpx
from tqdm import tqdm

from shared import contract
from shared.contract.programs import Program

from .upstream import Upstream, cloud_event

FIRST = ["Ahmad", "Siti", "Muhammad", "Nur", "Dewi", "Rizki", "Fitri", "Hendra", "Aisyah", "Yusuf", "Rina", "Fauzan",
         "Ni Luh Putu", "I Gusti Ngurah", "Made", "Yohanes", "Maria", "Teuku", "Cut", "Andi"]  # fmt: skip
LAST = ["Hidayat", "Rahmawati", "Saputra", "Lestari", "Nugroho", "Maulana", "Kurniawan", "Wulandari", "Syahputra",
        "Siregar", "Nasution", "Pattimura", "Sitompul", "Daeng Mattola", "Ayu Ḍewi"]  # fmt: skip
TITLES = ["S.Sos.", "S.I.Kom.", "S.H.", "S.Ag.", "M.Si.", "M.I.Kom.", "S.Kom.", "Dra.", "Dr."]
UNITS = ["Biro Hubungan Masyarakat dan Komunikasi Publik", "Kanwil Kemenag Provinsi Jawa Barat",
         "Kankemenag Kota Surabaya", "Kanwil Kemenag Provinsi Sulawesi Selatan", "UIN Syarif Hidayatullah Jakarta",
         "Kankemenag Kabupaten Aceh Besar", "Kanwil Kemenag Provinsi Bali", "Kankemenag Kota Jayapura"]  # fmt: skip
# The seed cohort's mix: 1,014 Ahli Pertama, 194 Ahli Muda, 31 Ahli Madya, 9 Terampil (1,248 in all).
JENJANG_MIX = {"ahli_pertama": 1014, "ahli_muda": 194, "ahli_madya": 31, "terampil": 9}
SEED_SIZE = sum(JENJANG_MIX.values())


@dataclass(frozen=True)
class DemoParticipant:
    nip: str
    name: str
    jenjang: str
    unit_kerja: str
    sessions: tuple[int, ...]


@dataclass(frozen=True)
class Services:
    enrollment: str
    attendance: str
    certificates: str
    api_key: str


def make_nip(rng: random.Random, seq: int) -> str:
    born = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 28))
    appointed = (min(born.year + rng.randrange(22, 30), 2024), rng.randrange(1, 13))
    return f"{born:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{rng.choice('12')}{seq % 1000:03d}"


def _name(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if rng.random() < 0.15:
        name = f"{rng.choice(['Dr.', 'Dra.', 'Hj.', 'H.'])} {name}"
    return f"{name}, {rng.choice(TITLES[:7])}" + (
        f", {rng.choice(['M.Si.', 'M.I.Kom.'])}" if rng.random() < 0.2 else ""
    )


def cohort(program: Program, size: int = SEED_SIZE, seed: int = 2026) -> list[DemoParticipant]:
    """`size` participants in the seed's jenjang mix, with realistic attendance: each has their
    own habit (most attend 80-100 % of sessions) and about one in twelve drops out early."""
    rng = random.Random(seed)
    jenjang = [j for j, n in JENJANG_MIX.items() for _ in range(max(1, round(n * size / SEED_SIZE)))][:size]
    jenjang += ["ahli_pertama"] * (size - len(jenjang))
    rng.shuffle(jenjang)
    people, nips = [], set()
    for i in range(size):
        nip = make_nip(rng, i + 1)
        while nip in nips:
            nip = make_nip(rng, i + 1)
        nips.add(nip)
        if rng.random() < 0.08:
            last = rng.randint(2, 8)
            sessions = tuple(s for s in range(1, last + 1) if rng.random() < 0.9)
        else:
            habit = rng.uniform(0.78, 1.0)
            sessions = tuple(s.number for s in program.sessions if rng.random() < habit)
        people.append(DemoParticipant(nip, _name(rng), jenjang[i], rng.choice(UNITS), sessions))
    return people


def roster_csv(people: list[DemoParticipant]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")  # as Excel saves it in an Indonesian locale
    writer.writerow(["nip", "nama", "jenjang", "unit kerja"])
    for p in people:
        writer.writerow([p.nip, p.name, p.jenjang.replace("_", " ").title(), p.unit_kerja])
    return out.getvalue()


def attendance_events(program: Program, people: list[DemoParticipant]):
    for session in program.sessions:
        at = dt.datetime.combine(session.date, dt.time(15, 0), dt.UTC)
        for p in people:
            if session.number in p.sessions:
                data = {"program_id": program.id, "nip": p.nip, "session": session.number, "minutes": 110}
                yield contract.ATTENDED, cloud_event(contract.ATTENDED, data, source="/mooc-pintar", time=at)


async def run_demo(amqp_url: str, services: Services, program: Program, size: int, timeout: float = 900) -> dict:
    people = cohort(program, size)
    expected = {p.nip for p in people if program.completion.is_complete(set(p.sessions))}
    auth = {"X-API-Key": services.api_key}
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=120, headers=auth) as http:
        roster = roster_csv(people).encode()
        url = f"{services.enrollment}/api/roster/{program.id}/import"
        dry = (
            await http.post(url, params={"dry_run": "true"}, content=roster, headers={"Content-Type": "text/csv"})
        ).json()
        print(f"• roster CSV, dry run: {dry['rows']} rows, {dry['accepted']} valid, {dry['rejected']} with errors, "
              f"{dry['new']} new, {dry['unchanged']} unchanged")  # fmt: skip
        report = (await http.post(url, content=roster, headers={"Content-Type": "text/csv"})).json()
        print(f"• roster imported: {report['published']} published as `enrolled` ({report['unchanged']} unchanged)")
        events = list(attendance_events(program, people))
        async with Upstream(amqp_url) as upstream:
            with tqdm(total=len(events), desc="attendance reports", unit="event") as bar:
                await upstream.publish_many(events, progress=bar.update)
        issued = await _wait_for_certificates(http, services, program, expected, timeout)
    elapsed = time.monotonic() - started
    return {"people": people, "expected": expected, "issued": issued, "events": len(events), "elapsed": elapsed}


async def _wait_for_certificates(http, services: Services, program: Program, expected: set[str], timeout: float):
    """Polls the HR export until every expected participant has a valid certificate (a rerun on
    kept data finds them at once)."""
    deadline = time.monotonic() + timeout
    issued: dict[str, dict] = {}
    with tqdm(total=len(expected), desc="certificates issued", unit="cert") as bar:
        while True:
            response = await http.get(f"{services.certificates}/api/certificates/export/{program.id}.csv")
            rows = csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")))
            issued = {r["nip"]: r for r in rows if r["nip"] in expected}
            bar.update(len(issued) - bar.n)
            if len(issued) >= len(expected) or time.monotonic() > deadline:
                return issued
            await asyncio.sleep(1.0)


def print_summary(result: dict, program: Program) -> None:
    people, issued = result["people"], result["issued"]
    enrolled = Counter(p.jenjang for p in people)
    completed = Counter(p.jenjang for p in people if p.nip in result["expected"])
    certified = Counter(p.jenjang for p in people if p.nip in issued)
    rows = [(j.replace("_", " ").title(), enrolled[j], completed[j], certified[j], enrolled[j] - completed[j])
            for j in JENJANG_MIX if enrolled[j]]  # fmt: skip
    rows.append(("Jumlah", sum(enrolled.values()), sum(completed.values()), sum(certified.values()),
                 sum(enrolled.values()) - sum(completed.values())))  # fmt: skip
    header = ("Jenjang", "Peserta", "Memenuhi syarat", "Sertifikat terbit", "Tidak memenuhi")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % widths[0] if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    print(f"\n{program.title} {program.year}: {len(people)} participants, {result['events']} attendance reports, "
          f"rule: at least {program.completion.min_sessions} of {program.session_count} sessions")  # fmt: skip
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print(f"\nTime from the roster import to the last certificate: {result['elapsed']:.1f} s")
