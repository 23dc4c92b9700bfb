"""The CPU-bound part of a certificate in worker processes: the credential's signature, the Typst
render and the PAdES signature, in one call per certificate.

pyHanko signs in pure Python, holding the GIL: in worker threads it took the event loop's turn,
so the service used one core and its storing, writing and publishing waited behind signatures.
In a worker process the next certificate renders on the other core while this process stores and
announces the previous ones (each message is still acked only after its own writes). One worker
by default: a worker holds about 130 MB, so with two the service passes its 300 MB target; two
halve the wait after a burst of completions, at about the same CPU per certificate in the year
and more in a burst alone (docs/performance.md, issue 16), for replicas with the memory and cores.

Workers are spawned (not forked: the parent has threads) when the service starts, sign with the
credential keys the service loaded and publishes (handed over, not read again), and die with
their parent. A worker that dies or hangs (`RENDER_TIMEOUT_S`) takes its pool down with every
render in it: the pool is replaced at once, and each of those renders runs again *alone*, one
after another in a pool of its own, so only the one that kills a worker by itself fails (its
message is requeued, and dead-lettered at the delivery limit); its neighbours are issued.
"""

import asyncio
import concurrent.futures
import datetime as dt
import multiprocessing
import signal
import threading
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .renderer import TEMPLATES, TypstRenderer, render_with_credential_sync


class RenderFailed(Exception):
    """A render killed or hung its worker while running alone: this certificate's own doing."""


class RenderPoolClosed(Exception):
    """The service is stopping: this render's message goes back to the queue, unsettled."""


class _PoolDown(Exception):
    """The pool a render was in broke (a worker died) or was killed (a render hung)."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker loads once: the service's own signing settings and credential keys."""

    signing_pkcs12_path: Path | None = None
    signing_pkcs12_passphrase: str = field(default="", repr=False)
    credential_keys: tuple[bytes, ...] = field(default=(), repr=False)  # IssuerKeys.pems: PEM, private
    jwks_url: str = ""
    templates: Path = TEMPLATES


class PooledRenderer:
    """A Renderer whose work runs in worker processes; `render_with_credential` also signs the
    credential there, with the keys in its `WorkerSetup`."""

    def __init__(self, setup: WorkerSetup, workers: int = 1, timeout_s: float = 120.0):
        self._setup = setup
        self._workers = workers
        self._timeout_s = timeout_s
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._alone: concurrent.futures.ProcessPoolExecutor | None = None
        self._alone_turn: asyncio.Lock | None = None
        self._alone_waiting = 0
        self._users = 0  # services using it, when `shared`
        self._closed = False  # after close(), no pool is made again until start()
        self._job = _work  # what a worker runs per certificate (a module-level function: it is pickled)

    def _new_pool(self, workers: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._setup,))  # fmt: skip

    def _executor(self, broken: concurrent.futures.ProcessPoolExecutor | None = None):
        with self._lock:
            if self._closed:
                raise RenderPoolClosed("the render pool is closed (the service is stopping)")
            if self._pool is None or self._pool is broken:
                if broken is not None:
                    _kill(broken)
                self._pool = self._new_pool(self._workers)
            return self._pool

    def _alone_pool(self, broken: concurrent.futures.ProcessPoolExecutor | None = None):
        if self._closed:
            raise RenderPoolClosed("the render pool is closed (the service is stopping)")
        if self._alone is None or self._alone is broken:
            if broken is not None:
                _kill(broken)
            self._alone = self._new_pool(1)
        return self._alone

    async def _in(self, pool_of, args: tuple):
        """Render in the pool `pool_of` gives; `_PoolDown` if it goes down while this render is in it."""
        pool = pool_of()
        try:
            future = pool.submit(self._job, *args)
        except BrokenProcessPool:  # it broke before this render got in: not this render's doing
            pool = pool_of(pool)
            future = pool.submit(self._job, *args)
        result = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({result}, timeout=self._timeout_s)
        except asyncio.CancelledError:
            result.cancel()  # still queued: dropped; already running: see _run_alone
            raise
        if not done:  # only killing its process frees a worker stuck in native code
            pool_of(pool)
            raise _PoolDown(f"a render was not done within {self._timeout_s:.0f} s")
        if result.cancelled():  # close() dropped it from the queue
            raise RenderPoolClosed("the render pool was closed before this render ran")
        try:
            return result.result()  # the job's own errors (a TimeoutError of its own too) pass through
        except BrokenProcessPool as e:
            if self._closed:
                raise RenderPoolClosed("the render pool was closed under this render") from e
            pool_of(pool)
            raise _PoolDown("a render worker died") from e

    async def _run(self, *args):
        try:
            return await self._in(self._executor, args)
        except _PoolDown:  # the pool is replaced already: new renders go on in the fresh one
            return await self._run_alone(args)

    async def _run_alone(self, args: tuple):
        """Run again by itself, after the pool it was in went down: if it takes a pool down alone,
        it is the cause; if not, it was a neighbour of the cause and is simply rendered."""
        self._alone_turn = self._alone_turn or asyncio.Lock()
        self._alone_waiting += 1
        try:
            async with self._alone_turn:
                try:
                    return await self._in(self._alone_pool, args)
                except _PoolDown as e:
                    raise RenderFailed(f"{e.args[0]} while rendering this certificate alone") from e
                except asyncio.CancelledError:  # its render may still run: the next one must not wait on it
                    if self._alone is not None:
                        _kill(self._alone)
                        self._alone = None
                    raise
        finally:
            self._alone_waiting -= 1
            if not self._alone_waiting and self._alone is not None:  # no more retries: its memory back
                _kill(self._alone)
                self._alone = None

    async def start(self) -> None:
        """Start every worker now rather than on the first certificates (and load their keys).
        From the event loop's thread: a worker dies with the thread that started it
        (PR_SET_PDEATHSIG follows the thread), and that one lives as long as the service."""
        self._closed = False
        pool = self._executor()
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(_ready)) for _ in range(self._workers)))

    async def render(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        pdf, _ = await self._run(template, content, timestamp, None)
        return pdf

    async def render_with_credential(self, template: str, content: dict, timestamp: dt.datetime,
                                     claims: dict, keys=None) -> tuple[bytes, str]:  # fmt: skip
        """The PDF with the signed credential embedded, and that credential (VC-JWT).
        `keys` is ignored: the workers sign with the keys of their `WorkerSetup`."""
        return await self._run(template, content, timestamp, claims)

    @classmethod
    def shared(cls, setup: WorkerSetup, workers: int = 1, timeout_s: float = 120.0) -> "PooledRenderer":
        """One pool per setup in this process: apps made again with the same settings (tests,
        a reload) reuse its workers instead of starting more."""
        with _shared_lock:
            if (pool := _shared.get((setup, workers, timeout_s))) is None:
                pool = _shared[(setup, workers, timeout_s)] = cls(setup, workers, timeout_s)
            pool._users += 1
            return pool

    def release(self) -> None:
        """A service that had this pool from `shared` stopped; the last one closes it."""
        with _shared_lock:
            self._users -= 1
            if self._users > 0:
                return
        self.close()

    def close(self, grace_s: float = 10.0) -> None:
        """Stop the workers once the handlers are done: renders still queued are cancelled and one
        still running gets `grace_s`, then its worker is killed; either way its handler ends with
        an error and its message, never acked, comes back from the closing channel. No pool is
        made again (`RenderPoolClosed`) until `start()`."""
        with self._lock:
            self._closed = True
            pools = [pool for pool in (self._pool, self._alone) if pool is not None]
            self._pool = self._alone = None
        for pool in pools:
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                worker.join(grace_s)
                if worker.is_alive():
                    worker.kill()


_shared: dict[tuple[WorkerSetup, int, float], PooledRenderer] = {}
_shared_lock = threading.Lock()


def _kill(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """End a pool whose worker died or hangs. Its other renders fail with BrokenProcessPool (and
    run again alone), not cancelled: a cancelled render would leave its message unsettled.
    `_processes` is CPython's; 3.14 has `kill_workers()` for this."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False)


# ---- in the worker process -----------------------------------------------------------------

_worker: dict = {}


def _start_worker(setup: WorkerSetup) -> None:
    _die_with_parent()
    # Ctrl-C reaches the whole process group: the service stops its consumers and lets in-flight
    # renders finish; the worker must not die under them (it ends when the pool shuts down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .issuer_keys import IssuerKeys
    from .renderer import SignedRenderer
    from .signing import PdfSigner

    renderer = TypstRenderer(setup.templates)
    if setup.signing_pkcs12_path:
        renderer = SignedRenderer(renderer, PdfSigner(setup.signing_pkcs12_path, setup.signing_pkcs12_passphrase))
    _worker["renderer"] = renderer
    _worker["keys"] = IssuerKeys.from_pems(setup.credential_keys, setup.jwks_url) if setup.credential_keys else None


def _die_with_parent() -> None:
    """No orphan worker after the service is killed (kill -9 included): Linux kills it too."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the pool's own pipes still end the worker once the parent is gone
        pass


def _ready() -> bool:
    return True


def _work(template: str, content: dict, timestamp: dt.datetime, claims: dict | None) -> tuple[bytes, str | None]:
    render_sync = _worker["renderer"].render_sync
    if claims is None:
        return render_sync(template, content, timestamp), None
    if _worker["keys"] is None:
        raise RuntimeError("a credential was asked for, but this worker has no credential keys")
    return render_with_credential_sync(render_sync, template, content, timestamp, claims, _worker["keys"])
