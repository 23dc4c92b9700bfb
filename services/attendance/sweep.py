"""The completion sweep: completes the eligible participants of a closed program once their
reports have settled, but never while a report may still be on its way (decision 3).

Each pass asks the broker how many input reports wait in the queues and every replica's
heartbeat what it holds unwritten (shared/platform/inflight.py); this replica's own heartbeat goes out
with each pass, so the sweep is also what tells the others this replica is alive."""

import asyncio
import contextlib
import datetime as dt
import socket
import time
import uuid

from shared import contract
from shared.contract.participant import participant_key
from shared.platform.inflight import Heartbeat, Watermark
from shared.platform.logs import describe
from shared.platform.runtime import Runtime

from . import handlers
from .bootstrap import Ports
from .settings import Settings


class Sweep:
    def __init__(self, rt: Runtime[Ports], settings: Settings):
        self._rt = rt
        self._settings = settings
        self.replica = settings.replica_id or f"{socket.gethostname()}:{settings.http_port}"
        self._incarnation = uuid.uuid4().hex
        self._watermark = Watermark(settings.replica_silence_s, settings.replica_expiry_s)

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.replica, time.time(), self._rt.in_flight.oldest(), self._incarnation)

    async def beat(self) -> None:
        await self._rt.ports().replicas.beat(self.heartbeat())

    async def reports_pending(self) -> bool:
        """Whether an input report may not be written yet: still queued, or taken by a replica."""
        # Each input can change what is certified: attended, enrolled, withdrawn.
        self._watermark.observe(time.time(), await self._rt.waiting(*self._rt.inputs.values()))
        await self.beat()
        beats = await self._rt.ports().replicas.beats()
        if any(b.replica == self.replica and b.incarnation != self._incarnation for b in beats):
            # Each takes the other for a restarted replica: nothing completes until the ids differ.
            self._rt.log.warning("another running replica has this replica_id", replica_id=self.replica)
        return self._watermark.handled_before(beats, time.time()) is None

    async def run(self) -> None:
        settle = dt.timedelta(seconds=self._settings.settle_seconds)
        try:
            while True:
                await self.one_pass(settle)
                await asyncio.sleep(self._settings.outbox_interval_s)
        finally:  # cancelled by rt.stop() once the broker stopped: nothing in hand any more
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._rt.ports().replicas.forget(self.heartbeat()), 5)

    async def one_pass(self, settle: dt.timedelta) -> None:
        ports = self._rt.ports()
        for program in self._rt.programs:
            try:
                # Chunk by chunk (bounded memory), each published straight from its write like the
                # handlers' (the relay covers crashes); the next chunk at once while they come full.
                while done := await handlers.complete_settled(
                    program, ports.book, settle, reports_pending=await self.reports_pending()
                ):
                    await asyncio.gather(*(ports.outbox.publish_stored(participant_key(program.id, nip), contract.COMPLETED, event)
                                           for nip, event in done))  # fmt: skip
                    self._rt.log.info("completed settled participants", program_id=program.id, count=len(done))
                    if len(done) < handlers.SWEEP_CHUNK:
                        break
            except Exception as e:  # an outage must not end the sweep; the next pass retries
                self._rt.log.warning("completion sweep failed", error=describe(e))  # its keys hold NIPs: masked
                self._rt.log.debug("completion sweep failed", exc_info=True)
