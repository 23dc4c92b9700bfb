"""A participant as enrolled. Shared by enrollment and attendance (each keeps its own copy).

Terms: `nip` the civil-servant number; `jenjang` the functional rank (Ahli Pertama …);
`unit_kerja` the work unit; `jp` (jam pelajaran) learning hours.
"""

from dataclasses import asdict, dataclass

from .events import EnrolledData


@dataclass(frozen=True)
class Participant:
    program_id: str
    nip: str
    name: str
    jenjang: str
    unit_kerja: str
    email: str | None = None

    @classmethod
    def from_event(cls, data: EnrolledData) -> "Participant":
        return cls(data.program_id, data.nip, data.name, data.jenjang, data.unit_kerja, data.email)

    @property
    def key(self) -> str:
        return participant_key(self.program_id, self.nip)

    def as_dict(self) -> dict:
        return asdict(self)


def participant_key(program_id: str, nip: str) -> str:
    return f"{program_id}:{nip}"
