"""A participant as enrolled. Shared by enrollment and attendance (each keeps its own copy).

Terms: `nip` the civil-servant number; `jenjang` the functional rank (Ahli Pertama …);
`unit_kerja` the work unit; `jp` (jam pelajaran) learning hours.
"""

import datetime as dt
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


def event_time(time: dt.datetime | None, received: dt.datetime | None = None) -> dt.datetime:
    """The time that orders roster updates: the fact's time, else when we received it."""
    return time or received or dt.datetime.now(dt.UTC)


def order_key(time: dt.datetime) -> str:
    """A stored form of `time` whose string order is time order (UTC, fixed width).

    Stored as text on purpose: nx-27017 turns a datetime `$set` on an existing document into
    a naive string, which would break the "latest time wins" comparison.
    """
    return time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def save_if_newer(collection, participant: Participant, time: dt.datetime) -> bool:
    """Write this version of the participant unless a newer one is stored.

    Each step is one atomic single-document write conditioned on `_id` and one condition on
    `time`: update an older version, or fill a document that has none yet (another writer, such
    as an attendance report, may have created it), or insert. No `$or` in the filter: nx-27017
    loses such updates when another write to the document runs at the same time (seen in tests;
    MongoDB would be fine). Returns whether this version was written.
    """
    from pymongo.errors import DuplicateKeyError

    key = order_key(time)
    fields = {**participant.as_dict(), "time": key}
    for _ in range(5):
        for condition in ({"$lte": key}, {"$exists": False}):
            result = await collection.update_one({"_id": participant.key, "time": condition}, {"$set": fields})
            if result.matched_count:
                return True
        try:
            result = await collection.update_one({"_id": participant.key}, {"$setOnInsert": fields}, upsert=True)
            if result.upserted_id is not None:
                return True
        except DuplicateKeyError:
            pass  # created between our looks: look again
        stored = await collection.find_one({"_id": participant.key}, {"time": 1})
        if stored is not None and stored.get("time") is not None and stored["time"] > key:
            return False
    raise RuntimeError(f"could not save participant {participant.key!r} after repeated races")
