"""The attendance service's own database: one document per participant and program.

It holds the roster copy (absent until `enrolled` arrives), the presences (`presence.s<n>`:
the longest minutes reported), the counted sessions (`counted.s<n>`), and the completion with
its outbox. One document means one atomic, replay-safe write per event, addressed by `_id`:
nx-27017 does not use compound indexes, and a write per event is the limit we measure against.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.contract.events import CloudEvent
from shared.contract.ordering import order_key
from shared.contract.participant import Participant, participant_key
from shared.platform.inflight import Heartbeat
from shared.platform.outbox import with_outbox
from shared.platform.roster_store import first_receipt, save_if_newer

from .domain import Attendee, Presence

AFTER = ReturnDocument.AFTER


class AttendanceBook(Protocol):
    async def save_participant(self, participant: Participant, rank: str) -> bool: ...
    async def first_receipt(self, participant: Participant, event: str, now: dt.datetime) -> dt.datetime: ...
    async def attendee(self, program_id: str, nip: str) -> Attendee: ...
    async def record(self, presence: Presence, now: dt.datetime) -> Attendee: ...
    async def record_many(self, presences: list[Presence], now: dt.datetime) -> dict[str, Attendee]: ...
    async def set_eligible(self, program_id: str, nip: str, eligible: bool) -> None: ...
    async def mark_completed(self, program_id: str, nip: str, event: CloudEvent, *,
                             despite_withdrawal: bool = False) -> bool: ...  # fmt: skip
    async def settled_candidates(self, program_id: str, quiet_since: dt.datetime, limit: int) -> list[str]: ...
    async def withdraw(self, program_id: str, nip: str, at: dt.datetime, before_end: bool) -> None: ...


class MongoAttendanceBook:
    KNOWN_CAP = 250_000  # about 30 MB of keys at most; past it the set starts afresh

    def __init__(self, db: AsyncDatabase):
        self.participants = db["participants"]
        # Participant documents this process has seen exist. They are never deleted (withdrawal
        # is a flag), so a batch skips creating them: one write fewer per report on the server.
        self._known: set[str] = set()

    async def ensure_indexes(self) -> None:
        for field in ("program_id", "eligible", "outbox_pending"):
            await self.participants.create_index(field)

    async def save_participant(self, participant: Participant, rank: str) -> bool:
        # Completion state, presences and outbox are other fields, untouched by roster updates.
        return await save_if_newer(self.participants, participant, rank)

    async def first_receipt(self, participant: Participant, event: str, now: dt.datetime) -> dt.datetime:
        return await first_receipt(self.participants, participant.key, participant.as_dict(), event, now)

    async def attendee(self, program_id: str, nip: str) -> Attendee:
        doc = await self.participants.find_one({"_id": participant_key(program_id, nip)})
        return _attendee(program_id, nip, doc)

    async def record(self, presence: Presence, now: dt.datetime) -> Attendee:
        update = _presence_update(presence, now)
        query = {"_id": participant_key(presence.program_id, presence.nip)}
        try:
            doc = await self.participants.find_one_and_update(query, update, upsert=True, return_document=AFTER)
        except DuplicateKeyError:  # created concurrently (its enrollment, another report): now it exists
            doc = await self.participants.find_one_and_update(query, update, return_document=AFTER)
        return _attendee(presence.program_id, presence.nip, doc)

    async def record_many(self, presences: list[Presence], now: dt.datetime) -> dict[str, Attendee]:
        """Many presences in one or two unordered bulk writes and one read back, keyed by participant
        key (documents not yet seen by this process are created first).
        Each update is the same idempotent update as `record` (commutative `$max` and `$set`)."""
        # Two bulk writes: create missing documents (top-level fields only), then update. nx-27017
        # stores a dotted `$max` of a bulk upsert that inserts as a literal "presence.s1" key.
        keys = {participant_key(p.program_id, p.nip): {"program_id": p.program_id, "nip": p.nip} for p in presences}
        if new := {key: fields for key, fields in keys.items() if key not in self._known}:
            try:
                await self.participants.bulk_write(
                    [UpdateOne({"_id": key}, {"$setOnInsert": fields}, upsert=True) for key, fields in new.items()],
                    ordered=False,
                )
            except BulkWriteError as e:  # created concurrently by another writer: it exists, as wanted
                if any(err.get("code") != 11000 for err in e.details.get("writeErrors", [])):
                    raise
        # One update per document (a participant may appear several times in a batch).
        merged: dict[str, dict] = {}
        for p in presences:
            update = merged.setdefault(participant_key(p.program_id, p.nip), {"$max": {}, "$set": {}})
            for operator, fields in _presence_update(p, now).items():
                for path, value in fields.items():
                    update[operator][path] = (
                        max(value, update[operator].get(path, value)) if operator == "$max" else value
                    )
        await self.participants.bulk_write([UpdateOne({"_id": k}, u) for k, u in merged.items()], ordered=False)
        docs = {doc["_id"]: doc async for doc in self.participants.find({"_id": {"$in": list(keys)}})}
        if len(self._known) + len(docs) > self.KNOWN_CAP:
            self._known.clear()
        self._known.update(docs)
        return {key: _attendee(doc["program_id"], doc["nip"], doc) for key, doc in docs.items()}

    async def set_eligible(self, program_id: str, nip: str, eligible: bool) -> None:
        query: dict = {"_id": participant_key(program_id, nip)}
        if eligible:
            # Decided from a read that a completion or a withdrawal may have overtaken since: such a
            # flag would never be cleared and would hold a place in every sweep chunk.
            query |= {"completed": {"$exists": False}, "withdrawn_before_end": {"$exists": False}}
        await self.participants.update_one(query, {"$set": {"eligible": eligible}})

    async def mark_completed(self, program_id: str, nip: str, event: CloudEvent, *,
                             despite_withdrawal: bool = False) -> bool:  # fmt: skip
        """Set completion once; the `completed` event is stored in the same write (outbox). Unless
        `despite_withdrawal` (every session attended), a withdrawal before the end that lands first wins."""
        query: dict = {"_id": participant_key(program_id, nip), "completed": {"$exists": False}}
        if not despite_withdrawal:
            query["withdrawn_before_end"] = {"$exists": False}
        result = await self.participants.update_one(
            query,
            with_outbox(
                {"$set": {"completed": True, "completed_at": event.data["completed_at"], "eligible": False}},
                "completed",
                event,
            ),
        )
        return result.modified_count == 1

    async def withdraw(self, program_id: str, nip: str, at: dt.datetime, before_end: bool) -> None:
        """Record the withdrawal; the earliest stands, whichever arrives first. One before the end
        (domain.withdrawn_before_end) stops completion on the rule: it and a completion are each one
        conditional write, so racing they end one way or the other. An earlier completion stands."""
        query = {"_id": participant_key(program_id, nip)}
        update: dict = {"$set": {"program_id": program_id, "nip": nip, "withdrawn": True},
                        "$min": {"withdrawn_at": order_key(at)}}  # fmt: skip
        if before_end:
            update["$set"] |= {"withdrawn_before_end": True, "eligible": False}
        try:
            await self.participants.update_one(query, update, upsert=True)
        except DuplicateKeyError:  # created concurrently: now it exists
            await self.participants.update_one(query, update)

    async def settled_candidates(self, program_id: str, quiet_since: dt.datetime, limit: int) -> list[str]:
        """At most `limit` of them: a sweep pass holds one bounded chunk, however many are due."""
        found: list[str] = []
        cursor = self.participants.find({"eligible": True}, {"program_id": 1, "nip": 1, "last_activity": 1})
        async for doc in cursor:
            if doc["program_id"] == program_id and doc.get("last_activity", 0) <= quiet_since.timestamp():
                found.append(doc["nip"])
                if len(found) >= limit:
                    break
        await cursor.close()
        return found


def _presence_update(presence: Presence, now: dt.datetime) -> dict:
    slot = f"s{presence.session}"
    update: dict = {
        "$max": {f"presence.{slot}": presence.minutes if presence.minutes is not None else 0},
        "$set": {"program_id": presence.program_id, "nip": presence.nip, "last_activity": now.timestamp()},
    }
    if presence.counts:
        update["$set"][f"counted.{slot}"] = True
    return update


def _attendee(program_id: str, nip: str, doc: dict | None) -> Attendee:
    if doc is None:
        return Attendee(program_id, nip, None, frozenset())
    enrolled = doc.get("name") is not None
    participant = Participant(**{k: doc.get(k) for k in Participant.__dataclass_fields__}) if enrolled else None
    counted = frozenset(int(k[1:]) for k, v in (doc.get("counted") or {}).items() if v)
    # A withdrawal recorded before withdrawals had a date counts as one before the end.
    before_end = bool(doc.get("withdrawn_before_end") or (doc.get("withdrawn") and "withdrawn_at" not in doc))
    return Attendee(program_id, nip, participant, counted, bool(doc.get("completed")), bool(doc.get("eligible")),
                    bool(doc.get("withdrawn")), before_end)  # fmt: skip


class MongoReplicas:
    """One heartbeat per running replica: what it has in hand, read by every replica's sweep
    (shared/platform/inflight.py). A few small documents, keyed by host and port: no personal data."""

    def __init__(self, db: AsyncDatabase):
        self.replicas = db["replicas"]

    async def beat(self, beat: Heartbeat) -> None:
        fields = {"at": beat.at, "oldest": beat.oldest, "incarnation": beat.incarnation}
        await self.replicas.update_one({"_id": beat.replica}, {"$set": fields}, upsert=True)

    async def beats(self) -> list[Heartbeat]:
        return [Heartbeat(doc["_id"], doc["at"], doc.get("oldest"), doc.get("incarnation", ""))
                async for doc in self.replicas.find({})]  # fmt: skip

    async def forget(self, beat: Heartbeat) -> None:
        """A replica that stops with nothing in hand (a crashed one's heartbeat is replaced by its
        successor's, or expires). Only its own: a successor may already have taken its place."""
        await self.replicas.delete_one({"_id": beat.replica, "incarnation": beat.incarnation})


@dataclass(frozen=True)
class Record:
    """One participant's whole attendance, for reports."""

    nip: str
    participant: Participant | None
    presence: dict[int, int | None]
    counted: frozenset[int]
    completed: bool
    withdrawn: bool


class MongoAttendanceReports:
    """Read side for the operator API: everything of a program, streamed from one collection."""

    def __init__(self, db: AsyncDatabase):
        self.participants = db["participants"]

    async def records(self, program_id: str):
        projection = {"outbox": 0}
        async for doc in self.participants.find({"program_id": program_id}, projection).sort("_id", 1).batch_size(500):
            yield _record(doc)

    async def record(self, program_id: str, nip: str) -> Record | None:
        doc = await self.participants.find_one({"_id": participant_key(program_id, nip)}, {"outbox": 0})
        return _record(doc) if doc else None


def _record(doc: dict) -> Record:
    attendee = _attendee(doc["program_id"], doc["nip"], doc)
    # A presence reported without minutes is stored as 0 minutes ($max needs a number).
    presence = {int(k[1:]): v for k, v in (doc.get("presence") or {}).items()}
    return Record(doc["nip"], attendee.participant, presence, attendee.counted, attendee.completed, attendee.withdrawn)
