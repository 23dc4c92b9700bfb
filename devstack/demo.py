"""A short year of Humas Level Up, published as the upstream systems would publish it."""

import datetime as dt
import json
import random
import time
from dataclasses import dataclass

import httpx
from tqdm import tqdm

from shared import contract
from shared.programs import Program

from .upstream import Upstream, cloud_event

FIRST = ["Ahmad", "Siti", "Muhammad", "Nur", "Dewi", "Rizki", "Fitri", "Hendra", "Aisyah", "Yusuf", "Rina", "Fauzan"]
LAST = ["Hidayat", "Rahmawati", "Saputra", "Lestari", "Nugroho", "Maulana", "Kurniawan", "Wulandari", "Syahputra"]
UNITS = ["Biro Humas dan Komunikasi Publik", "Kanwil Kemenag Provinsi Jawa Barat", "Kankemenag Kota Surabaya",
         "Kanwil Kemenag Provinsi Sulawesi Selatan", "UIN Syarif Hidayatullah Jakarta", "Kankemenag Kabupaten Aceh Besar"]  # fmt: skip
# The seed cohort's mix: 1,014 Ahli Pertama, 194 Ahli Muda, 31 Ahli Madya, 9 Terampil (1,248 in all).
JENJANG_MIX = {"ahli_pertama": 1014, "ahli_muda": 194, "ahli_madya": 31, "terampil": 9}


@dataclass(frozen=True)
class DemoParticipant:
    nip: str
    name: str
    jenjang: str
    unit_kerja: str
    sessions: tuple[int, ...]


def make_nip(rng: random.Random, seq: int) -> str:
    born = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 28))
    appointed = (min(born.year + rng.randrange(22, 30), 2024), rng.randrange(1, 13))
    return f"{born:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{rng.choice('12')}{seq % 1000:03d}"


def cohort(program: Program, size: int, seed: int = 2026) -> list[DemoParticipant]:
    """`size` participants in the seed's jenjang mix; most attend enough, a few drop out."""
    rng = random.Random(seed)
    total = sum(JENJANG_MIX.values())
    jenjang = [j for j, n in JENJANG_MIX.items() for _ in range(max(1, round(n * size / total)))][:size]
    jenjang += ["ahli_pertama"] * (size - len(jenjang))
    rng.shuffle(jenjang)
    people = []
    for i in range(size):
        n = program.session_count
        if i % 6 == 5:  # drops out after a few sessions: no certificate
            sessions = tuple(range(1, 5))
        else:
            sessions = tuple(sorted(rng.sample(range(1, n + 1), rng.randint(program.completion.min_sessions, n))))
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}, S.{rng.choice(['Sos', 'Kom', 'H', 'Ag'])}."
        people.append(DemoParticipant(make_nip(rng, i + 1), name, jenjang[i], rng.choice(UNITS), sessions))
    return people


def year_of_events(program: Program, people: list[DemoParticipant]) -> list[tuple[str, dict]]:
    events = []
    for p in people:
        data = {"program_id": program.id, "nip": p.nip, "name": p.name, "jenjang": p.jenjang, "unit_kerja": p.unit_kerja}
        events.append((contract.ENROLLED, cloud_event(contract.ENROLLED, data, source="/simpeg")))
    for session in program.sessions:
        at = dt.datetime.combine(session.date, dt.time(14, 0), dt.UTC)
        for p in people:
            if session.number in p.sessions:
                data = {"program_id": program.id, "nip": p.nip, "session": session.number, "minutes": 120}
                events.append((contract.ATTENDED, cloud_event(contract.ATTENDED, data, time=at)))
    return events


async def run_demo(amqp_url: str, program: Program, size: int, timeout: float = 300) -> list[dict]:
    people = cohort(program, size)
    expected = {p.nip for p in people if program.completion.is_complete(set(p.sessions))}
    started = time.monotonic()
    async with Upstream(amqp_url) as upstream:
        issued_queue = await upstream.listen(contract.CERTIFICATE_ISSUED)
        events = year_of_events(program, people)
        for routing_key, event in tqdm(events, desc="publishing the year", unit="event"):
            await upstream.publish(routing_key, event)
        issued: dict[str, dict] = {}
        with tqdm(total=len(expected), desc="certificates issued", unit="cert") as bar:
            async with issued_queue.iterator(timeout=timeout) as messages:
                async for message in messages:
                    async with message.process():
                        data = json.loads(message.body)["data"]
                        if data["program_id"] == program.id and data["nip"] in expected and data["nip"] not in issued:
                            issued[data["nip"]] = data
                            bar.update(1)
                    if len(issued) == len(expected):
                        break
    elapsed = time.monotonic() - started
    async with httpx.AsyncClient(timeout=10) as http:
        for data in issued.values():
            response = await http.get(data["url"])
            data["http"] = f"{response.status_code} {response.headers.get('content-type')}"
    print(f"\n{len(people)} participants, {len(events)} events, {len(issued)} certificates "
          f"({len(people) - len(expected)} did not attend enough) in {elapsed:.1f}s\n")  # fmt: skip
    return sorted(issued.values(), key=lambda d: d["number"])

