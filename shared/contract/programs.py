"""Programs are configuration (deploy/programs/*.toml), never code: a second program needs no code."""

import datetime as dt
import tomllib
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    number: int = Field(ge=1)
    date: dt.date
    topic: str | None = None


class CompletionRule(BaseModel):
    """Which presences count, and how many counted sessions complete the program."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_sessions: int = Field(ge=1)
    min_minutes: int | None = Field(default=None, ge=1)

    def counts(self, minutes: int | None) -> bool:
        # An attendance without minutes counts (docs/contract.md): the platform only reported presence.
        return minutes is None or self.min_minutes is None or minutes >= self.min_minutes

    def is_complete(self, counted_sessions: set[int]) -> bool:
        return len(counted_sessions) >= self.min_sessions


class Signer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    nip: str | None = None
    title: str
    specimen: bool = True


class Siasn(BaseModel):
    """How BKN's SIASN names this course, for the HR export (services/certificates/operator_api.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jenis_kursus: str = Field(min_length=1)  # the kind of course, as SIASN's reference lists it
    institusi_penyelenggara: str = Field(min_length=1)


class Program(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: str
    year: int
    jp_per_session: int = Field(default=2, ge=1)
    completion: CompletionRule
    number_format: str = "{seq:04d}/BH/HUMAS-LU/{year}"
    place: str = "Jakarta"
    template: str = "certificate.typ"
    signer: Signer
    sessions: tuple[Session, ...]
    # After this date no more attendance is expected: participants who satisfy the rule without
    # attending every session complete then (default: two weeks after the last session).
    closes_on: dt.date | None = None
    siasn: Siasn | None = None  # optional: without it there is no SIASN export

    @model_validator(mode="after")
    def _consistent(self) -> "Program":
        numbers = [s.number for s in self.sessions]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("sessions must be numbered 1..N in order")
        # docs/contract.md §6: attending every session always completes; four or fewer never does.
        if not 4 < self.completion.min_sessions <= len(numbers):
            raise ValueError("completion.min_sessions must be above 4 and at most the session count")
        self.number_format.format(seq=1, year=self.year)
        return self

    @cached_property
    def session_count(self) -> int:
        return len(self.sessions)

    @cached_property
    def closing_date(self) -> dt.date:
        return self.closes_on or self.sessions[-1].date + dt.timedelta(days=14)

    def is_closed(self, now: dt.datetime) -> bool:
        return now.date() >= self.closing_date

    def jp_for(self, sessions: set[int] | list[int]) -> int:
        return self.jp_per_session * len(sessions)


class UnknownProgram(KeyError):
    pass


class Programs:
    """The programs a service knows, loaded once at start-up."""

    def __init__(self, programs: list[Program]):
        self._by_id = {p.id: p for p in programs}

    @classmethod
    def load(cls, directory: Path) -> "Programs":
        files = sorted(Path(directory).glob("*.toml"))
        if not files:
            raise FileNotFoundError(f"no program files (*.toml) in {directory}")
        return cls([Program.model_validate(tomllib.loads(f.read_text("utf-8"))) for f in files])

    def get(self, program_id: str) -> Program:
        try:
            return self._by_id[program_id]
        except KeyError:
            raise UnknownProgram(program_id) from None

    def __contains__(self, program_id: object) -> bool:
        return program_id in self._by_id

    def __iter__(self):
        return iter(self._by_id.values())
