"""The roster copy each service keeps (enrollment, attendance): written only by a newer
version of a participant (shared/contract/ordering.py)."""

import datetime as dt

from ..contract.ordering import from_order_key, order_key
from ..contract.participant import Participant


async def save_if_newer(collection, participant: Participant, rank: str) -> bool:
    """Write this version of the participant unless a later one is stored (`rank`:
    shared/contract/ordering.py; a document stored before ranks existed has only a `time` and is overwritten).

    Each step is one atomic single-document write conditioned on `_id` and one condition on
    `rank`: update an earlier version, or fill a document that has none yet (another writer, such
    as an attendance report, may have created it), or insert. No `$or` in the filter: nx-27017
    loses such updates when another write to the document runs at the same time (seen in tests;
    MongoDB would be fine). Returns whether this version was written.
    """
    from pymongo.errors import DuplicateKeyError

    fields = {**participant.as_dict(), "rank": rank}
    for _ in range(5):
        for condition in ({"$lte": rank}, {"$exists": False}):
            result = await collection.update_one({"_id": participant.key, "rank": condition}, {"$set": fields})
            if result.matched_count:
                return True
        try:
            result = await collection.update_one({"_id": participant.key}, {"$setOnInsert": fields}, upsert=True)
            if result.upserted_id is not None:
                return True
        except DuplicateKeyError:
            pass  # created between our looks: look again
        stored = await collection.find_one({"_id": participant.key}, {"rank": 1})
        if stored is not None and stored.get("rank") is not None and stored["rank"] > rank:
            return False
    # No NIP in the message: it is logged.
    raise RuntimeError(f"could not save a participant of {participant.program_id!r} after repeated races")


async def first_receipt(collection, doc_id: str, fields: dict, event: str, now: dt.datetime) -> dt.datetime:
    """When this service first received the undated event `event` (its `ordering.event_key`):
    `now` unless it was received before. Kept in the participant's document (`received`), so a
    redelivery or replay keeps the rank it had (shared/contract/ordering.py). `fields` fill a new document."""
    from pymongo.errors import DuplicateKeyError

    path = f"received.{event}"
    for _ in range(5):
        try:
            await collection.update_one({"_id": doc_id, path: {"$exists": False}},
                                        {"$set": {path: order_key(now)}, "$setOnInsert": fields}, upsert=True)  # fmt: skip
        except DuplicateKeyError:
            pass  # received before, or the document was created meanwhile: look
        doc = await collection.find_one({"_id": doc_id}, {"received": 1})
        if stamp := ((doc or {}).get("received") or {}).get(event):
            return from_order_key(stamp)
    raise RuntimeError("could not record when an event was first received after repeated races")
