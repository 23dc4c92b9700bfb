"""The benchmark's year: the seed cohort's jenjang mix, 16 sessions, ~90 % attendance."""

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from devstack.demo import JENJANG_MIX, make_nip
from devstack.upstream import cloud_event
from shared.contract.programs import Program

SEED_COHORT = sum(JENJANG_MIX.values())  # 1,248


@dataclass(frozen=True)
class Person:
    nip: str
    jenjang: str
    sessions: frozenset[int]


def cohort(program: Program, scale: int, attendance: float = 0.9, seed: int = 2026) -> list[Person]:
    rng = random.Random(seed)
    jenjang = [j for j, n in JENJANG_MIX.items() for _ in range(n * scale)]
    nips: set[str] = set()
    people = []
    for i, j in enumerate(jenjang):
        nip = make_nip(rng, i)
        while nip in nips:
            nip = make_nip(rng, i)
        nips.add(nip)
        sessions = frozenset(s.number for s in program.sessions if rng.random() < attendance)
        people.append(Person(nip, j, sessions))
    return people


def expected_completions(program: Program, people: list[Person]) -> set[str]:
    return {p.nip for p in people if program.completion.is_complete(set(p.sessions))}


def events(program: Program, people: list[Person]) -> Iterator[tuple[str, dict]]:
    """Generated lazily: at scale 100 the year is ~1.9 million events."""
    for i, p in enumerate(people):
        data = {"program_id": program.id, "nip": p.nip, "name": f"Peserta {i:06d}", "jenjang": p.jenjang,
                "unit_kerja": f"Satker {i % 500:03d}"}  # fmt: skip
        yield "enrolled", cloud_event("enrolled", data, source="/simpeg")
    for session in program.sessions:
        at = dt.datetime.combine(session.date, dt.time(14), dt.UTC)
        for p in people:
            if session.number in p.sessions:
                data = {"program_id": program.id, "nip": p.nip, "session": session.number, "minutes": 115}
                yield "attended", cloud_event("attended", data, time=at)


def count_events(people: list[Person]) -> int:
    return len(people) + sum(len(p.sessions) for p in people)
