"""The roster in the enrollment service's own database."""

import datetime as dt
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.roster import Participant, order_key, participant_key


class Roster(Protocol):
    async def save(self, participant: Participant, time: dt.datetime) -> bool: ...
    async def get(self, program_id: str, nip: str) -> Participant | None: ...
    async def count(self, program_id: str) -> int: ...


class MongoRoster:
    def __init__(self, db: AsyncDatabase):
        self._participants = db["participants"]

    async def ensure_indexes(self) -> None:
        await self._participants.create_index("program_id")

    async def save(self, participant: Participant, time: dt.datetime) -> bool:
        """Upsert unless a newer version is stored; returns whether this version was written.

        The filter only matches an older (or equal) version; when a newer one exists the upsert
        tries to insert the same _id and the unique key refuses it: a single atomic write.
        """
        key = order_key(time)
        try:
            await self._participants.update_one(
                {"_id": participant.key, "$or": [{"time": {"$lte": key}}, {"time": {"$exists": False}}]},
                {"$set": {**participant.as_dict(), "time": key}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:
            return False

    async def get(self, program_id: str, nip: str) -> Participant | None:
        doc = await self._participants.find_one({"_id": participant_key(program_id, nip)})
        return _participant(doc) if doc else None

    async def count(self, program_id: str) -> int:
        return await self._participants.count_documents({"program_id": program_id})


def _participant(doc: dict) -> Participant:
    return Participant(**{k: doc.get(k) for k in Participant.__dataclass_fields__})
