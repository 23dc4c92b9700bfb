"""The roster in the enrollment service's own database."""

import datetime as dt
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from shared.roster import Participant, participant_key, save_if_newer


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
        return await save_if_newer(self._participants, participant, time)

    async def get(self, program_id: str, nip: str) -> Participant | None:
        doc = await self._participants.find_one({"_id": participant_key(program_id, nip)})
        return _participant(doc) if doc else None

    async def count(self, program_id: str) -> int:
        return await self._participants.count_documents({"program_id": program_id})


def _participant(doc: dict) -> Participant:
    return Participant(**{k: doc.get(k) for k in Participant.__dataclass_fields__})
