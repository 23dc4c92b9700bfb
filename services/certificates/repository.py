"""Certificates in the certificate service's own database.

Numbers are gapless without transactions: a number exists only as a field of the certificate
that carries it, guarded by a unique `seq_key` (program and number). The candidate is the
program's `numbering` hint + 1, stepping up on each collision; the hint only ever records a
number already taken, so every number at or below it is taken and each assignment takes the
lowest free one. A crash between the two writes leaves the hint behind, never a gap.
Uniqueness lives in single-field keys: nx-27017 does not use compound indexes (it scans).
"""

import asyncio

import dataclasses
import datetime as dt
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import CloudEvent
from shared.outbox import with_outbox
from shared.programs import Program

from .domain import Certificate

_FIELDS = [f.name for f in dataclasses.fields(Certificate)]


class CertificateRepository(Protocol):
    async def add_or_get(self, draft: Certificate) -> Certificate: ...
    async def assign_number(self, cert: Certificate, program: Program) -> Certificate: ...
    async def mark_issued(self, cert: Certificate, sha256: str, object_key: str, event: CloudEvent) -> Certificate: ...
    async def by_code(self, code: str) -> Certificate | None: ...


class MongoCertificates:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["certificates"]
        self._numbering = db["numbering"]
        self._numbering_lock = asyncio.Lock()  # this process's handlers don't race each other

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index("holder_key", unique=True)
        await c.create_index("code", unique=True)
        await c.create_index("seq_key", unique=True, partialFilterExpression={"seq_key": {"$exists": True}})
        await c.create_index("outbox_pending")

    async def add_or_get(self, draft: Certificate) -> Certificate:
        doc = _to_doc(draft)
        try:
            await self.collection.insert_one(doc)
            return draft
        except DuplicateKeyError:
            existing = await self.collection.find_one({"holder_key": doc["holder_key"]})
            if existing is None:  # the clash was on the random code: practically never, try anew
                raise
            return _from_doc(existing)

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

    async def mark_issued(self, cert: Certificate, sha256: str, object_key: str, event: CloudEvent) -> Certificate:
        result = await self.collection.update_one(
            {"_id": cert.certificate_id, "sha256": {"$exists": False}},
            with_outbox({"$set": {"sha256": sha256, "object_key": object_key, "status": "valid"}}, "certificate.issued", event),
        )
        if result.modified_count == 1:
            return dataclasses.replace(cert, sha256=sha256, object_key=object_key, status="valid")
        # A concurrent process issued it first: the stored record is the truth.
        return _from_doc(await self.collection.find_one({"_id": cert.certificate_id}))

    async def by_code(self, code: str) -> Certificate | None:
        doc = await self.collection.find_one({"code": code})
        return _from_doc(doc) if doc else None


def _to_doc(cert: Certificate) -> dict:
    doc = {k: v for k, v in dataclasses.asdict(cert).items() if v is not None}
    doc["_id"] = doc.pop("certificate_id")
    doc["holder_key"] = f"{cert.program_id}:{cert.nip}:{cert.revision}"
    doc["sessions"] = list(cert.sessions)
    return doc


def _from_doc(doc: dict) -> Certificate:
    values = {k: doc.get(k) for k in _FIELDS if k != "certificate_id"}
    values["sessions"] = tuple(values["sessions"] or ())
    for key in ("completed_at", "issued_at"):
        if isinstance(values[key], dt.datetime) and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=dt.UTC)
    return Certificate(certificate_id=doc["_id"], **values)
