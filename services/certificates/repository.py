"""Certificates in the certificate service's own database.

Numbers are gapless without transactions: a number exists only as a field of the certificate
that carries it, chosen as highest-so-far + 1 and guarded by a unique (program_id, seq) index.
Two processes choosing the same number: one write fails, that one looks again.
"""

import dataclasses
import datetime as dt
from typing import Protocol

from pymongo import DESCENDING
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

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index([("program_id", 1), ("nip", 1), ("revision", 1)], unique=True)
        await c.create_index([("code", 1)], unique=True)
        await c.create_index(
            [("program_id", 1), ("seq", 1)], unique=True, partialFilterExpression={"seq": {"$exists": True}}
        )

    async def add_or_get(self, draft: Certificate) -> Certificate:
        doc = _to_doc(draft)
        try:
            await self.collection.insert_one(doc)
            return draft
        except DuplicateKeyError:
            existing = await self.collection.find_one(
                {"program_id": draft.program_id, "nip": draft.nip, "revision": draft.revision}
            )
            if existing is None:  # the clash was on the random code: practically never, try anew
                raise
            return _from_doc(existing)

    async def assign_number(self, cert: Certificate, program: Program) -> Certificate:
        while True:
            current = await self.collection.find_one({"_id": cert.certificate_id})
            if current is None:
                raise LookupError(cert.certificate_id)
            if current.get("seq") is not None:
                return _from_doc(current)
            highest = await self.collection.find_one(
                {"program_id": cert.program_id, "seq": {"$exists": True}}, sort=[("seq", DESCENDING)]
            )
            numbered = cert.numbered(program, (highest["seq"] if highest else 0) + 1)
            try:
                await self.collection.update_one(
                    {"_id": cert.certificate_id, "seq": {"$exists": False}},
                    {"$set": {"seq": numbered.seq, "number": numbered.number}},
                )
            except DuplicateKeyError:
                continue

    async def mark_issued(self, cert: Certificate, sha256: str, object_key: str, event: CloudEvent) -> Certificate:
        await self.collection.update_one(
            {"_id": cert.certificate_id, "sha256": {"$exists": False}},
            with_outbox({"$set": {"sha256": sha256, "object_key": object_key, "status": "valid"}}, "certificate.issued", event),
        )
        # Whoever won (this process or a concurrent one), the stored record is the truth.
        return _from_doc(await self.collection.find_one({"_id": cert.certificate_id}))

    async def by_code(self, code: str) -> Certificate | None:
        doc = await self.collection.find_one({"code": code})
        return _from_doc(doc) if doc else None


def _to_doc(cert: Certificate) -> dict:
    doc = {k: v for k, v in dataclasses.asdict(cert).items() if v is not None}
    doc["_id"] = doc.pop("certificate_id")
    doc["sessions"] = list(cert.sessions)
    return doc


def _from_doc(doc: dict) -> Certificate:
    values = {k: doc.get(k) for k in _FIELDS if k != "certificate_id"}
    values["sessions"] = tuple(values["sessions"] or ())
    for key in ("completed_at", "issued_at"):
        if isinstance(values[key], dt.datetime) and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=dt.UTC)
    return Certificate(certificate_id=doc["_id"], **values)
