"""Which of two `enrolled` events for one participant is the later: the one rule both the
enrollment and the attendance service apply to their roster copies (docs/contract.md §3: "the
latest `time` wins"), so their copies agree whatever order each receives the events in.

`time` is optional in CloudEvents, and a fact dated ahead of our clock could never be corrected
(nothing later would beat it). So:
- an event dated more than the allowed clock skew ahead of the receiving service's clock is
  refused (`shared.contract.events.decode`, for every event type);
- an event with a `time` ranks by it; equal times are broken by the event's identity
  `(source, id)`, so both services pick the same winner;
- an event without `time` ranks below every dated event of the participant: nothing says it is
  later than any of them, and a receive time would differ between the two services (one may
  read its queue hours after the other). Among undated events, the one first received later
  wins; that moment is kept per `(source, id)`, so a redelivery or a replay of an old event is
  the same event at the same rank and never overtakes a correction received after it.
"""

import datetime as dt
import hashlib

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
# Rank prefixes: every undated rank sorts below every dated one. A rank must not begin with a
# date: nx-27017 compares such strings in an update's filter neither `$lte` nor `$gt` each other.
DATED, UNDATED = "1:", "0:"
_ORDER_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def order_key(time: dt.datetime) -> str:
    """A stored form of `time` whose string order is time order (UTC, fixed width).

    Stored as text on purpose: nx-27017 turns a datetime `$set` on an existing document into
    a naive string, which would break the "latest time wins" comparison.
    """
    return time.astimezone(dt.UTC).strftime(_ORDER_KEY_FORMAT)


def from_order_key(key: str) -> dt.datetime:
    return dt.datetime.strptime(key, _ORDER_KEY_FORMAT).replace(tzinfo=dt.UTC)


def ahead_of_clock(time: dt.datetime, now: dt.datetime, skew: dt.timedelta = MAX_CLOCK_SKEW) -> bool:
    return time > now + skew


def event_key(source: str, id: str) -> str:
    """The identity `(source, id)` in a form fit for a document field name (no '.' or '$')."""
    return hashlib.sha256(f"{source}\n{id}".encode()).hexdigest()[:24]


def rank(time: dt.datetime | None, event: str, first_received: dt.datetime | None = None) -> str:
    """The stored rank of an event (`event`: its `event_key`): a later event has a greater rank.
    An undated event needs the moment it was first received."""
    if time is not None:
        return f"{DATED}{order_key(time)}|{event}"
    if first_received is None:
        raise ValueError("an event without time ranks by when it was first received")
    return f"{UNDATED}{order_key(first_received)}|{event}"
