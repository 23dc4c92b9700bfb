"""Which input messages are surely handled, across replicas: each replica's handlers in flight,
combined with the broker's count of messages not yet delivered.

The attendance sweep must not complete a participant while one of their reports is in some
replica's hands, delivered but not yet written (docs/decisions/0003). The broker's count sees
what waits in the queues; only the replicas know what they hold, so each one reports it in a
heartbeat. No I/O here: the service writes and reads the heartbeats.
"""

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass

# A message the broker has delivered enters its handler within a turn of the event loop, and the
# replicas' clocks (NTP) differ by milliseconds: a second covers both with room to spare.
MARGIN_S = 1.0


class InFlight:
    """When each message this process is handling entered its handler; it leaves after its ack.

    A dict insert and delete per message, no I/O: the message path is benchmarked."""

    def __init__(self) -> None:
        self._starts: dict[int, float] = {}
        self._tokens = itertools.count()

    def enter(self) -> int:
        token = next(self._tokens)
        self._starts[token] = time.time()  # wall clock: compared with other replicas' times
        return token

    def leave(self, token: int) -> None:
        del self._starts[token]

    def oldest(self) -> float | None:
        # A dict keeps insertion order, which is start order: the first entry is the oldest.
        return next(iter(self._starts.values()), None)

    def __len__(self) -> int:
        return len(self._starts)


@dataclass(frozen=True)
class Heartbeat:
    replica: str  # the same across a restart in the same place (host, port): the successor's beat replaces it
    at: float  # when the replica wrote it (seconds since the epoch, its clock)
    oldest: float | None = None  # when its oldest handler still in flight started; None: none
    incarnation: str = ""  # new at every start

    @property
    def handled_before(self) -> float:
        """Every message this replica took before this moment was handled (written, acked)."""
        return self.at if self.oldest is None else self.oldest


class Watermark:
    """The latest moment before which every input message is known to be handled, whoever took it.

    The broker's count at `t` says every message published before `t` had been delivered; if every
    live replica has since reported that whatever it took before `t` (plus the margin) is handled,
    all of them are written. A replica silent for `silence_s` may still hold some: nothing is known
    until it reports again, or until `expiry_s`, when it is surely dead: the broker has closed its
    connection and put what it held back in the queues. So `expiry_s` exceeds the broker's detection
    of a dead peer (AMQP heartbeat timeout, 60 s by default). A replica restarted in its place
    replaces its heartbeat at once: the old process is gone, and its connection with it.
    """

    def __init__(self, silence_s: float, expiry_s: float, margin_s: float = MARGIN_S):
        self.silence_s, self.expiry_s, self.margin_s = silence_s, expiry_s, margin_s
        self._quiet: list[float] = []  # when the broker showed nothing waiting, since it last showed some
        self._replicas: set[tuple[str, str]] = set()

    def observe(self, asked_at: float, waiting: int) -> None:
        """The broker's count of input messages not yet delivered, asked at `asked_at`."""
        if waiting:
            self._quiet.clear()  # what waited may include messages a replica held and gave back
        else:
            self._quiet.append(asked_at)

    def handled_before(self, beats: Iterable[Heartbeat], now: float) -> float | None:
        """The moment, or None while some input message may still be in a replica's hands."""
        live = {(b.replica, b.incarnation): b.handled_before for b in beats if b.at >= now - self.expiry_s}
        if self._replicas - live.keys():
            # One stopped, expired or was restarted: what it held went back to the queues, maybe after
            # a quiet check, and may now be in a live replica's hands, taken after that check.
            self._quiet.clear()
        self._replicas = set(live)
        self._quiet = [t for t in self._quiet if t >= now - self.silence_s]
        if not live:  # not even this replica's own heartbeat
            return None
        handled = min(live.values())
        return max((t for t in self._quiet if t + self.margin_s <= handled), default=None)
