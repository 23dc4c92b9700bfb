"""The roster in the enrollment service's own database."""

import datetime as dt
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.contract.ordering import from_order_key, order_key
from shared.contract.participant import Participant, participant_key
from shared.platform.roster_store import first_receipt, save_if_newer

from .domain import RosterEntry


class Roster(Protocol):
    async def save(self, participant: Participant, rank: str) -> bool: ...
    async def first_receipt(self, participant: Participant, event: str, now: dt.datetime) -> dt.datetime: ...
    async def lookup(self, program_id: str, nip: str) -> RosterEntry: ...
    async def withdraw(self, program_id: str, nip: str, reason: str, at: dt.datetime) -> None: ...
    # The read side: the operators' roster pages and search.
    async def count(self, program_id: str) -> int: ...
    async def entries(self, program_id: str, limit: int, offset: int) -> list[RosterEntry]: ...


class MongoRoster:
    def __init__(self, db: AsyncDatabase):
        self._participants = db["participants"]

    async def ensure_indexes(self) -> None:
        await self._participants.create_index("program_id")

    async def save(self, participant: Participant, rank: str) -> bool:
        return await save_if_newer(self._participants, participant, rank)

    async def first_receipt(self, participant: Participant, event: str, now: dt.datetime) -> dt.datetime:
        return await first_receipt(self._participants, participant.key, participant.as_dict(), event, now)

    async def lookup(self, program_id: str, nip: str) -> RosterEntry:
        return _entry(await self._participants.find_one({"_id": participant_key(program_id, nip)}))

    async def withdraw(self, program_id: str, nip: str, reason: str, at: dt.datetime) -> None:
        # The earliest withdrawal stands, whichever arrives first (any order, docs/contract.md §2); a
        # redelivery changes nothing. Upsert: a withdrawal may arrive before the enrollment it ends.
        key, when = participant_key(program_id, nip), order_key(at)
        fields = {"program_id": program_id, "nip": nip, "withdrawn_at": when, "withdrawal_reason": reason}
        earlier = await self._participants.update_one({"_id": key, "withdrawn_at": {"$gt": when}}, {"$set": fields})
        if earlier.matched_count:
            return
        try:
            await self._participants.update_one({"_id": key, "withdrawn_at": {"$exists": False}}, {"$set": fields},
                                                upsert=True)  # fmt: skip
        except DuplicateKeyError:
            pass  # already withdrawn, at this time or earlier

    async def count(self, program_id: str) -> int:
        return await self._participants.count_documents({"program_id": program_id})

    async def entries(self, program_id: str, limit: int, offset: int) -> list[RosterEntry]:
        cursor = self._participants.find({"program_id": program_id}).sort("_id", 1).skip(offset).limit(limit)
        return [_entry(doc) async for doc in cursor]


def _entry(doc: dict | None) -> RosterEntry:
    if doc is None:
        return RosterEntry(None)
    participant = Participant(**{k: doc.get(k) for k in Participant.__dataclass_fields__}) if doc.get("name") else None
    withdrawn = doc.get("withdrawn_at")
    at = from_order_key(withdrawn) if withdrawn else None
    return RosterEntry(participant, at, doc.get("withdrawal_reason"))
