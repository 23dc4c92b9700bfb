"""Certificates in the certificate service's own database.

Numbers are gapless without transactions: a number exists only as a field of the certificate
that carries it, guarded by a unique `seq_key` (program and number), and a first issue is
inserted with its number in one write. The candidate is the highest number known to be taken
(this process's last, or the program's `numbering` hint) + 1, stepping up on each collision;
both only ever record numbers already taken, so every number at or below them is taken and
each assignment takes the lowest free one. The hint is raised in the background, coalesced
(one write per burst, not per certificate): a hint left behind by a crash or an outage costs
the next process a few collisions, never a gap.
Uniqueness lives in single-field keys: nx-27017 does not use compound indexes (it scans).

Concurrent handlers' first issues are inserted together (one ordered `insert_many` of consecutive
numbers: an ordered insert stops at the first refusal, so what was inserted is a run without a
hole, and the refused one and those after it take the one-by-one path below). Their "issued" marks
go out together too, in one unordered bulk write (docs/performance.md).

A re-issue touches two documents, so readers never see both revisions of a number valid: the
old one is marked `superseding` (the new id) before the new one can become valid, and whoever
reads a marked revision whose successor is valid finishes the supersede (a crash between the
two writes leaves exactly that). Exports also keep only the highest valid revision of a number.
"""

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from shared.contract.events import CloudEvent
from shared.contract.programs import Program
from shared.platform.batching import MicroBatcher
from shared.platform.logs import describe
from shared.platform.outbox import BulkUpdates, with_outbox

from . import domain
from .domain import Certificate, NotAllowed, new_code

_FIELDS = [f.name for f in dataclasses.fields(Certificate)]
BATCH_WAIT_S = 0.05
_LISTED = {"credential_jwt": 0}  # only the credential route reads it (a few kB each)
log = logging.getLogger(__name__)


class CertificateRepository(Protocol):
    async def add_or_get(self, draft: Certificate, history: dict | None = None) -> Certificate: ...
    async def add_numbered(self, draft: Certificate, program: Program) -> Certificate: ...
    async def assign_number(self, cert: Certificate, program: Program) -> Certificate: ...
    async def mark_issued(
        self, cert: Certificate, sha256: str, object_key: str, event: CloudEvent, credential: str | None = None
    ) -> Certificate: ...
    async def by_code(self, code: str) -> Certificate | None: ...
    async def by_id(self, certificate_id: str) -> Certificate | None: ...
    async def revoke(self, cert: Certificate, reason: str, by: str, event: CloudEvent) -> Certificate: ...
    async def successor(self, cert: Certificate) -> Certificate | None: ...
    async def begin_supersede(self, old: Certificate, new: Certificate) -> None: ...
    async def mark_superseded(self, old: Certificate, new: Certificate, by: str, reason: str) -> None: ...
    # The read side: operators' lists and exports, the public status lists.
    async def history(self, certificate_id: str) -> list[dict]: ...
    async def credential(self, certificate_id: str) -> str | None: ...
    async def find(self, filters: dict, limit: int, offset: int) -> tuple[int, list[Certificate]]: ...
    async def invalidated_seqs(self, program_id: str, revision: int) -> list[int]: ...
    def each(self, program_id: str, status: str | None = "valid") -> AsyncIterator[Certificate]: ...


class MongoCertificates:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["certificates"]
        self._numbering = db["numbering"]
        self._numbering_lock = asyncio.Lock()  # this process's handlers don't race each other
        self._highest: dict[str, int] = {}  # per program: the highest number this process knows is taken
        self._hint_due: dict[str, int] = {}  # per program: taken numbers the shared hint has yet to hear of
        self._hint_writer: asyncio.Task | None = None
        # Certificates leave the renderer one by one (a few tens of ms apart), so handlers meet in
        # one round trip only if the batches wait about that long; each handler still awaits its own
        # write before it goes on (and acks only after all of them), so the wait is latency only.
        self._inserts = MicroBatcher(self._insert_numbered, size=64, wait_s=BATCH_WAIT_S)
        # Shared with the outbox (bootstrap.py): "issued" marks and "published" marks in the same bulk writes.
        self.updates = BulkUpdates(self.collection, size=64, wait_s=BATCH_WAIT_S)

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index("holder_key", unique=True)
        await c.create_index("code", unique=True)
        await c.create_index("seq_key", unique=True, partialFilterExpression={"seq_key": {"$exists": True}})
        await c.create_index("outbox_pending")
        await c.create_index("superseding", partialFilterExpression={"superseding": {"$exists": True}})

    async def add_or_get(self, draft: Certificate, history: dict | None = None) -> Certificate:
        doc = _to_doc(draft)
        if history:
            doc["history"] = history
        try:
            await self.collection.insert_one(doc)
            return draft
        except DuplicateKeyError:
            existing = await self.collection.find_one({"holder_key": doc["holder_key"]})
            if existing is None:  # the clash was on the random code: practically never, try anew
                raise
            return _from_doc(existing)

    async def add_numbered(self, draft: Certificate, program: Program) -> Certificate:
        """A first issue inserted with its number in the same write (one write, not three), or the
        holder's existing certificate. Gapless like `assign_number`: the candidate starts above a
        number known to be taken and steps up past numbers other processes took meanwhile."""
        return await self._inserts.submit((draft, program))

    async def _insert_numbered(self, items: list[tuple[Certificate, Program]]) -> list[Certificate]:
        """`add_numbered` for a batch: consecutive numbers above the highest known, one ordered
        insert; from the first refused one on, one by one (a redelivery, a number another process
        took). Several programs in one batch: each its own run (practically, one program)."""
        results: list[Certificate | None] = [None] * len(items)
        async with self._numbering_lock:
            for program_id in dict.fromkeys(draft.program_id for draft, _ in items):
                indices = [i for i, (draft, _) in enumerate(items) if draft.program_id == program_id]
                first = await self._known_highest(program_id) + 1
                numbered = [items[i][0].numbered(items[i][1], first + k) for k, i in enumerate(indices)]
                docs = [{**_to_doc(n), "seq_key": f"{program_id}:{n.seq}"} for n in numbered]
                try:
                    await self.collection.insert_many(docs, ordered=True)
                    inserted = len(docs)
                except BulkWriteError as e:
                    inserted = e.details.get("nInserted", 0)
                    if inserted >= len(docs) or not all(
                        w.get("code") == 11000 for w in e.details.get("writeErrors", [])
                    ):
                        raise
                if inserted:
                    highest = numbered[inserted - 1].seq
                    self._highest[program_id] = max(highest, self._highest.get(program_id, 0))
                    self._raise_hint(program_id, highest)
                for k, i in enumerate(indices):
                    results[i] = numbered[k] if k < inserted else await self._add_numbered_one(*items[i])
        return results

    async def _add_numbered_one(self, draft: Certificate, program: Program) -> Certificate:
        """One by one, under the numbering lock (held by the caller)."""
        seq = await self._known_highest(draft.program_id) + 1
        collided = False
        while True:
            numbered = draft.numbered(program, seq)
            doc = {**_to_doc(numbered), "seq_key": f"{draft.program_id}:{seq}"}
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError:
                existing = await self.collection.find_one({"holder_key": doc["holder_key"]})
                if existing is not None:  # a redelivery: this holder has their certificate
                    return _from_doc(existing)
                # The number went to another process (or, practically never, the code clashed).
                if not collided:  # catch up with the others once, through the shared hint
                    collided = True
                    seq = max(seq, await self._known_highest(draft.program_id, refresh=True))
                seq += 1
                draft = dataclasses.replace(draft, code=new_code())
                continue
            self._highest[draft.program_id] = max(seq, self._highest.get(draft.program_id, 0))
            self._raise_hint(draft.program_id, seq)
            return numbered

    def _raise_hint(self, program_id: str, seq: int) -> None:
        self._hint_due[program_id] = max(seq, self._hint_due.get(program_id, 0))
        if self._hint_writer is None or self._hint_writer.done():
            self._hint_writer = asyncio.ensure_future(self._write_hints())

    async def _write_hints(self) -> None:
        await asyncio.sleep(0.05)  # gather a burst: one write for all the numbers taken meanwhile
        while self._hint_due:
            program_id, seq = self._hint_due.popitem()
            try:
                await self._numbering.update_one({"_id": program_id}, {"$max": {"highest": seq}}, upsert=True)
            except PyMongoError as e:  # only a hint: the next certificate raises it again
                log.warning("numbering hint not written: %s", describe(e))
                log.debug("numbering hint not written", exc_info=True)

    async def _known_highest(self, program_id: str, refresh: bool = False) -> int:
        if refresh or program_id not in self._highest:
            hint = await self._numbering.find_one({"_id": program_id})
            self._highest[program_id] = max(self._highest.get(program_id, 0), hint["highest"] if hint else 0)
        return self._highest[program_id]

    async def assign_number(self, cert: Certificate, program: Program) -> Certificate:
        if cert.seq is not None:
            return cert
        async with self._numbering_lock:
            hint = await self._numbering.find_one({"_id": cert.program_id})
            seq = (hint["highest"] if hint else 0) + 1
            while True:
                numbered = cert.numbered(program, seq)
                try:
                    result = await self.collection.update_one(
                        {"_id": cert.certificate_id, "seq": {"$exists": False}},
                        {"$set": {"seq": seq, "number": numbered.number, "seq_key": f"{cert.program_id}:{seq}"}},
                    )
                except DuplicateKeyError:
                    seq += 1  # taken by another process: the next one up
                    continue
                if result.modified_count == 1:
                    await self._numbering.update_one({"_id": cert.program_id}, {"$max": {"highest": seq}}, upsert=True)
                    return numbered
                return _from_doc(await self.collection.find_one({"_id": cert.certificate_id}))

    async def mark_issued(
        self, cert: Certificate, sha256: str, object_key: str, event: CloudEvent, credential: str | None = None
    ) -> Certificate:
        # The credential (a few kB) is written with the hash, in the same update: the record
        # never names a PDF without the credential embedded in it, and no second object is stored.
        extra = {"credential_jwt": credential} if credential is not None else {}
        update = UpdateOne(
            {"_id": cert.certificate_id, "sha256": {"$exists": False}},
            with_outbox(
                {
                    "$set": {
                        "sha256": sha256,
                        "object_key": object_key,
                        "status": "valid",
                        "specimen": cert.specimen,
                        "history.issued": domain.issued_entry(cert.issued_at, sha256),
                        **extra,
                    }
                },
                "certificate.issued",
                event,
            ),
        )
        if await self.updates.submit(update):
            return dataclasses.replace(cert, sha256=sha256, object_key=object_key, status="valid")
        # Not known to be this write's: the stored record is the truth. A stored hash equal to ours
        # means this write landed, or another replica stored the same bytes (without credential keys a
        # render is reproducible): then both publish `certificate.issued` with the same event id, one
        # message to consumers that dedupe by id; another hash means a concurrent replica won.
        return _from_doc(await self.collection.find_one({"_id": cert.certificate_id}, _LISTED))

    async def by_code(self, code: str) -> Certificate | None:
        doc = await self.collection.find_one({"code": code}, _LISTED)
        return _from_doc(await self._settled(doc)) if doc else None

    async def by_id(self, certificate_id: str) -> Certificate | None:
        doc = await self.collection.find_one({"_id": certificate_id}, _LISTED)
        return _from_doc(await self._settled(doc)) if doc else None

    async def successor(self, cert: Certificate) -> Certificate | None:
        """The revision made from this one (there is at most one: the holder key is unique)."""
        doc = await self.collection.find_one(
            {"holder_key": _holder_key(cert.program_id, cert.nip, cert.revision + 1)}, _LISTED
        )
        return _from_doc(doc) if doc else None

    async def history(self, certificate_id: str) -> list[dict]:
        doc = await self.collection.find_one({"_id": certificate_id}, {"history": 1})
        return domain.history((doc or {}).get("history"))

    async def credential(self, certificate_id: str) -> str | None:
        """The revision's VC-JWT; None if it was stored as an object beside the PDF (before
        6bf24ca) or issued without credential keys."""
        doc = await self.collection.find_one({"_id": certificate_id}, {"credential_jwt": 1})
        return (doc or {}).get("credential_jwt")

    async def revoke(self, cert: Certificate, reason: str, by: str, event: CloudEvent) -> Certificate:
        """valid → revoked, with the history entry and the `certificate.revoked` outbox entry, in
        one conditional write: of two concurrent revocations exactly one wins."""
        at = event.data["revoked_at"]
        result = await self.collection.update_one(
            {"_id": cert.certificate_id, "status": "valid"},
            with_outbox(
                {
                    "$set": {
                        "status": "revoked",
                        "revoked_at": at,
                        "history.revoked": domain.revoked_entry(at, by, reason),
                    }
                },
                "certificate.revoked",
                event,
            ),
        )
        current = await self.by_id(cert.certificate_id)
        if result.modified_count != 1:
            raise NotAllowed(f"only a valid certificate can be revoked; this one is {current.status}")
        return current

    async def begin_supersede(self, old: Certificate, new: Certificate) -> None:
        """Before `new` can become valid: from then on, readers take `new`'s validity for `old`'s end."""
        await self.collection.update_one({"_id": old.certificate_id, "status": "valid"},
                                         {"$set": {"superseding": new.certificate_id}})  # fmt: skip

    async def mark_superseded(self, old: Certificate, new: Certificate, by: str, reason: str) -> None:
        await self._supersede(old.certificate_id, new.certificate_id, new.revision, _at(new.issued_at), by, reason)

    async def _supersede(self, old_id: str, new_id: str, revision: int, at: str, by: str, reason: str) -> None:
        entry = domain.superseded_entry(new_id, revision, at, by, reason)
        await self.collection.update_one(
            {"_id": old_id, "status": "valid"},
            {
                "$set": {"status": "superseded", "superseded_by": new_id, "history.superseded": entry},
                "$unset": {"superseding": ""},
            },
        )

    async def _settled(self, doc: dict) -> dict:
        """`doc` as it stands once an interrupted supersede is finished: a revision marked
        `superseding` whose successor has been issued is superseded (the re-issue crashed, or is
        about to write that itself; the write is conditional, so both doing it is harmless)."""
        if doc.get("status") != "valid" or not doc.get("superseding"):
            return doc
        new = await self.collection.find_one({"_id": doc["superseding"]}, {"outbox": 0, **_LISTED})
        if new is None or new.get("sha256") is None:  # not issued yet: the old one is still the valid one
            return doc
        reissued = (new.get("history") or {}).get("reissued") or {}
        at = reissued.get("at") or _at(_aware(new["issued_at"]))
        await self._supersede(
            doc["_id"], new["_id"], new["revision"], at, reissued.get("by", ""), reissued.get("reason", "")
        )
        return await self.collection.find_one({"_id": doc["_id"]}, _LISTED) or doc

    async def _settle_program(self, program_id: str | None) -> None:
        query = {
            "superseding": {"$exists": True},
            "status": "valid",
            **({"program_id": program_id} if program_id else {}),
        }
        async for doc in self.collection.find(query, _LISTED):
            await self._settled(doc)

    async def find(self, filters: dict, limit: int, offset: int) -> tuple[int, list[Certificate]]:
        query = {k: v for k, v in filters.items() if v is not None}
        await self._settle_program(query.get("program_id"))  # so the counts and statuses agree
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, _LISTED).sort([("seq", 1), ("revision", 1)]).skip(offset).limit(limit)
        return total, [_from_doc(await self._settled(doc)) async for doc in cursor]

    async def invalidated_seqs(self, program_id: str, revision: int) -> list[int]:
        """The numbers (seq) whose given revision is revoked or superseded: the bits of a status list."""
        await self._settle_program(program_id)
        query = {"program_id": program_id, "revision": revision, "status": {"$in": ["revoked", "superseded"]}}
        return [doc["seq"] async for doc in self.collection.find(query, {"seq": 1}) if doc.get("seq")]

    async def each(self, program_id: str, status: str | None = "valid"):
        """Every certificate of a program in number order, streamed (never all in memory).
        Of the valid revisions of one number only the highest is given: a re-issue that became
        valid while this ran has superseded the one before it."""
        await self._settle_program(program_id)
        query = {"program_id": program_id, **({"status": status} if status else {})}
        held: Certificate | None = None
        async for doc in self.collection.find(query, _LISTED).sort([("seq", 1), ("revision", 1)]).batch_size(200):
            cert = _from_doc(await self._settled(doc))
            if status is not None and cert.status != status:
                continue
            if held is not None and not (cert.status == held.status == "valid" and cert.seq == held.seq):
                yield held
            held = cert
        if held is not None:
            yield held


def _to_doc(cert: Certificate) -> dict:
    # Every field is flat (sessions is a tuple of ints): asdict's deep copy cost about 0.7 ms a certificate.
    doc = {k: v for k in _FIELDS if (v := getattr(cert, k)) is not None}
    doc["_id"] = doc.pop("certificate_id")
    doc["holder_key"] = _holder_key(cert.program_id, cert.nip, cert.revision)
    doc["sessions"] = list(cert.sessions)
    return doc


def _holder_key(program_id: str, nip: str, revision: int) -> str:
    return f"{program_id}:{nip}:{revision}"


def _aware(time: dt.datetime) -> dt.datetime:
    return time if time.tzinfo else time.replace(tzinfo=dt.UTC)


def _at(time: dt.datetime) -> str:
    # Times inside updates are stored as ISO text: nx-27017 turns a datetime `$set` on an existing
    # document into a naive string.
    return time.astimezone(dt.UTC).isoformat()


def _from_doc(doc: dict) -> Certificate:
    values = {k: doc.get(k) for k in _FIELDS if k != "certificate_id"}
    if isinstance(values["revoked_at"], str):
        values["revoked_at"] = dt.datetime.fromisoformat(values["revoked_at"])
    values["sessions"] = tuple(values["sessions"] or ())
    if values["specimen"] is not None:  # nx-27017 hands a $set boolean back as 0/1
        values["specimen"] = bool(values["specimen"])
    for key in ("completed_at", "issued_at"):
        if isinstance(values[key], dt.datetime) and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=dt.UTC)
    return Certificate(certificate_id=doc["_id"], **values)
