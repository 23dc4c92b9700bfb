"""Transactional outbox kept inside the document whose change caused the event.

MongoDB (and nx-27017) give us atomic single-document writes, not transactions, so the
event that follows a write is stored in that same write and published afterwards. Layout:
`outbox.<event_id>` holds the entry and `outbox_pending` counts unpublished ones (nx-27017
stores a `$push`ed subdocument as a JSON string, so entries are `$set` by key instead). A crash between write and publish leaves it pending; the relay publishes it
again with the same event id, and consumers dedupe on (source, id).

An entry is marked published only once the broker confirmed that a queue took it: a publish the
broker returns as unroutable (nobody bound to its routing key yet) stays pending, and the relay
tries it again on every pass until someone listens.
"""

import asyncio
import logging
import time
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from ..contract.events import CloudEvent
from .batching import MicroBatcher
from .logs import describe
from .messaging import Publisher, Unroutable

log = logging.getLogger(__name__)


def with_outbox(update: dict[str, Any], routing_key: str, event: CloudEvent) -> dict[str, Any]:
    """Add the event to a document update, so that both land in one atomic write."""
    entry = {"routing_key": routing_key, "event": event.model_dump(mode="json", exclude_none=True), "published": False,
             "written_at": time.time()}  # fmt: skip
    return {
        **update,
        "$set": {**update.get("$set", {}), f"outbox.{event.id}": entry},
        "$inc": {**update.get("$inc", {}), "outbox_pending": 1},
    }


class BulkUpdates:
    """Updates of concurrent handlers to one collection, written together in one unordered bulk
    write (one round trip for many). Each submitter awaits its own batch's write."""

    def __init__(self, collection: AsyncCollection, size: int = 64, wait_s: float = 0.005):
        self._collection = collection
        self._batcher = MicroBatcher(self._write, size=size, wait_s=wait_s)

    async def submit(self, update: UpdateOne) -> bool:
        """True when this update certainly changed its document (every one in its batch did);
        False when that is not known: a caller that needs to know reads the document back."""
        return await self._batcher.submit(update)

    async def _write(self, updates: list[UpdateOne]) -> list[bool]:
        # A bulk result counts, it does not say which update changed nothing: one no-op (a mark
        # repeated by a redelivery) makes the whole batch read its documents back. Correct, and
        # rare: redeliveries are.
        result = await self._collection.bulk_write(updates, ordered=False)
        return [result.modified_count == len(updates)] * len(updates)


class MongoOutbox:
    def __init__(self, collection: AsyncCollection, publisher: Publisher, updates: BulkUpdates | None = None):
        self._collection = collection
        self._publisher = publisher
        # Concurrent handlers' "published" marks go out together: one round trip for many; with the
        # service's own `updates`, in the same bulk writes as its other updates to that collection.
        self._updates = updates or BulkUpdates(collection, size=64)

    async def publish_stored(self, doc_id: Any, routing_key: str, event: CloudEvent) -> None:
        """Publish an event the caller has just written into `doc_id`'s outbox (no read back).

        Unroutable is not the caller's failure: its write stands and the relay publishes the entry
        once a queue is bound, so the message or request that caused it still succeeds."""
        try:
            await self._publisher.publish(routing_key, event)
        except Unroutable as e:
            log.warning("event %s left pending in the outbox for the relay: %s", event.id, e)
            return
        await self._mark_published(doc_id, event.id)

    async def _mark_published(self, doc_id: Any, event_id: str) -> None:
        # Conditional on "not yet published", so a mark made twice (handler and relay) counts once.
        await self._updates.submit(UpdateOne({"_id": doc_id, f"outbox.{event_id}.published": False},
                                             {"$set": {f"outbox.{event_id}.published": True},
                                              "$inc": {"outbox_pending": -1}}))  # fmt: skip

    async def flush(self, doc_id: Any) -> int:
        """Publish the pending events of one document (the one a handler just wrote); what is
        unroutable stays pending for the relay, as in `publish_stored`."""
        doc = await self._collection.find_one({"_id": doc_id}, {"outbox": 1})
        try:
            return await self._publish_pending(doc) if doc else 0
        except Unroutable as e:
            log.warning("events left pending in the outbox for the relay: %s", e)
            return 0

    async def flush_all(self, limit: int = 500, older_than_s: float = 0.0) -> int:
        cursor = self._collection.find({"outbox_pending": {"$gt": 0}}, {"outbox": 1})
        written_before = time.time() - older_than_s
        # The documents together, not one after another: their "published" marks then share bulk
        # writes instead of each waiting out the batcher's flush delay alone.
        docs = [doc async for doc in cursor.limit(limit)]
        results = await asyncio.gather(
            *(self._publish_pending(doc, written_before) for doc in docs), return_exceptions=True
        )
        if failed := next((r for r in results if isinstance(r, BaseException)), None):
            raise failed  # the relay logs it and retries on its next pass, as before
        return sum(results)

    async def _publish_pending(self, doc: dict[str, Any], written_before: float | None = None) -> int:
        sent = 0
        for event_id, entry in (doc.get("outbox") or {}).items():
            if entry["published"]:
                continue
            if written_before is not None and entry.get("written_at", 0) > written_before:
                continue  # its handler is most likely publishing it right now
            await self._publisher.publish(entry["routing_key"], CloudEvent.model_validate(entry["event"]))
            await self._mark_published(doc["_id"], event_id)
            sent += 1
        return sent

    async def relay(self, interval_s: float, grace_s: float = 5.0) -> None:
        """Background task: catches what a crash or a broker outage left unpublished. Entries
        younger than `grace_s` are left to the handler that wrote them (which publishes at once),
        so the relay does not announce the same event a second time in the common case."""
        while True:
            try:
                if sent := await self.flush_all(older_than_s=grace_s):
                    log.info("outbox relay published %d pending events", sent)
            except asyncio.CancelledError:
                raise
            except Unroutable as e:  # nobody bound to that routing key yet: not an outage, no traceback
                log.warning("outbox relay: %s; retrying on the next pass", e)
            except Exception as e:  # the relay must outlive outages; the next pass retries
                log.warning("outbox relay pass failed: %s", describe(e))  # bulk write errors quote keys: masked
                log.debug("outbox relay pass failed", exc_info=True)
            await asyncio.sleep(interval_s)
