"""The attendance service's own database: roster copy (`participants`) and `presences`."""

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import CloudEvent
from shared.outbox import with_outbox
from shared.roster import Participant, participant_key

from .domain import Presence


@dataclass(frozen=True)
class Enrolment:
    participant: Participant
    completed: bool


class AttendanceBook(Protocol):
    async def save_participant(self, participant: Participant, time: dt.datetime) -> bool: ...
    async def enrolment(self, program_id: str, nip: str) -> Enrolment | None: ...
    async def record(self, presence: Presence) -> None: ...
    async def counted_sessions(self, program_id: str, nip: str) -> set[int]: ...
    async def note_activity(self, program_id: str, nip: str, eligible: bool, now: dt.datetime) -> None:
        await self.participants.update_one(
            {"_id": participant_key(program_id, nip)}, {"$set": {"eligible": eligible, "last_activity": now}}
        )

    async def settled_candidates(self, program_id: str, quiet_since: dt.datetime) -> list[str]:
        cursor = self.participants.find(
            {"program_id": program_id, "eligible": True, "completed": {"$exists": False},
             "last_activity": {"$lte": quiet_since}},
            {"nip": 1},
        )  # fmt: skip
        return [doc["nip"] async for doc in cursor]

    async def mark_completed(self, program_id: str, nip: str, event: CloudEvent) -> bool: ...
    async def note_activity(self, program_id: str, nip: str, eligible: bool, now: dt.datetime) -> None: ...
    async def settled_candidates(self, program_id: str, quiet_since: dt.datetime) -> list[str]: ...


class MongoAttendanceBook:
    def __init__(self, db: AsyncDatabase):
        self.participants = db["participants"]
        self._presences = db["presences"]

    async def ensure_indexes(self) -> None:
        await self.participants.create_index([("program_id", 1), ("nip", 1)], unique=True)
        await self.participants.create_index([("program_id", 1), ("eligible", 1), ("last_activity", 1)])
        await self._presences.create_index([("program_id", 1), ("nip", 1), ("session", 1)], unique=True)

    async def save_participant(self, participant: Participant, time: dt.datetime) -> bool:
        # Same single-write "latest time wins" as the enrollment roster. Completion state and
        # outbox are other fields, untouched by roster updates.
        try:
            await self.participants.update_one(
                {"_id": participant.key, "$or": [{"time": {"$lte": time}}, {"time": {"$exists": False}}]},
                {"$set": {**participant.as_dict(), "time": time}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:
            return False

    async def enrolment(self, program_id: str, nip: str) -> Enrolment | None:
        doc = await self.participants.find_one({"_id": participant_key(program_id, nip)})
        if doc is None:
            return None
        fields = {k: doc.get(k) for k in Participant.__dataclass_fields__}
        return Enrolment(Participant(**fields), completed=bool(doc.get("completed")))

    async def record(self, presence: Presence) -> None:
        # Repeated reports of one session keep the longest presence; $max makes replays no-ops.
        update: dict = {"$max": {"counts": int(presence.counts)}}
        if presence.minutes is not None:
            update["$max"]["minutes"] = presence.minutes
        try:
            await self._presences.update_one(
                {"program_id": presence.program_id, "nip": presence.nip, "session": presence.session},
                update,
                upsert=True,
            )
        except DuplicateKeyError:
            # Two replicas upserting the same new presence: the loser's write lands as an update.
            await self._presences.update_one(
                {"program_id": presence.program_id, "nip": presence.nip, "session": presence.session}, update
            )

    async def counted_sessions(self, program_id: str, nip: str) -> set[int]:
        cursor = self._presences.find({"program_id": program_id, "nip": nip, "counts": 1}, {"session": 1})
        return {doc["session"] async for doc in cursor}

    async def note_activity(self, program_id: str, nip: str, eligible: bool, now: dt.datetime) -> None:
        await self.participants.update_one(
            {"_id": participant_key(program_id, nip)}, {"$set": {"eligible": eligible, "last_activity": now}}
        )

    async def settled_candidates(self, program_id: str, quiet_since: dt.datetime) -> list[str]:
        cursor = self.participants.find(
            {"program_id": program_id, "eligible": True, "completed": {"$exists": False},
             "last_activity": {"$lte": quiet_since}},
            {"nip": 1},
        )  # fmt: skip
        return [doc["nip"] async for doc in cursor]

    async def mark_completed(self, program_id: str, nip: str, event: CloudEvent) -> bool:
        """Set completion once; the `completed` event is stored in the same write (outbox)."""
        result = await self.participants.update_one(
            {"_id": participant_key(program_id, nip), "completed": {"$exists": False}},
            with_outbox({"$set": {"completed": True, "completed_at": event.data["completed_at"]}}, "completed", event),
        )
        return result.modified_count == 1
