"""The CPU-bound part of a certificate in worker processes: the credential's signature, the Typst
render and the PAdES signature, in one call per certificate.

pyHanko signs in pure Python, holding the GIL: in worker threads it took the event loop's turn,
so the service used one core and its storing, writing and publishing waited behind signatures.
In a worker process the next certificate renders on the other core while this process stores and
announces the previous ones (each message is still acked only after its own writes). One worker
by default: a worker holds about 130 MB, so with two the service passes its 300 MB target;
two halve the wait after a burst of completions at the same CPU per certificate
(docs/performance.md, issue 16), for replicas that have the memory and the cores.

Workers are started on first use (spawned, not forked: the parent has threads), load their keys
themselves (the passphrase and key directory come from the same settings), die with their parent,
and a worker that dies mid-render is replaced and the render retried.
"""

import asyncio
import concurrent.futures
import datetime as dt
import multiprocessing
import signal
import threading
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .renderer import TEMPLATES, TypstRenderer, render_with_credential_sync


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker loads once: the same settings the service process reads."""

    signing_pkcs12_path: Path | None = None
    signing_pkcs12_passphrase: str = ""
    credential_keys_dir: Path | None = None
    jwks_url: str = ""
    templates: Path = TEMPLATES


class PooledRenderer:
    """A Renderer whose work runs in worker processes; `render_with_credential` also signs the
    credential there (the keys are loaded by each worker from `credential_keys_dir`)."""

    def __init__(self, setup: WorkerSetup, workers: int = 1):
        self._setup = setup
        self._workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self, broken: concurrent.futures.ProcessPoolExecutor | None = None):
        with self._lock:
            if self._pool is None or self._pool is broken:
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self._workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker, initargs=(self._setup,))  # fmt: skip
            return self._pool

    async def _run(self, *args):
        pool, attempts = self._executor(), 0
        while True:
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, _work, *args)
            except BrokenProcessPool:  # a worker died (killed, out of memory): a fresh pool, same work
                attempts += 1
                if attempts > 2:
                    raise
                pool = self._executor(broken=pool)

    async def start(self) -> None:
        """Start the workers now rather than on the first certificate (and load their keys).
        From the event loop's thread: a worker dies with the thread that started it
        (PR_SET_PDEATHSIG follows the thread), and that one lives as long as the service."""
        await asyncio.wrap_future(self._executor().submit(_ready))

    async def render(self, template: str, content: dict, timestamp: dt.datetime) -> bytes:
        pdf, _ = await self._run(template, content, timestamp, None)
        return pdf

    async def render_with_credential(self, template: str, content: dict, timestamp: dt.datetime,
                                     claims: dict, keys=None) -> tuple[bytes, str]:  # fmt: skip
        """The PDF with the signed credential embedded, and that credential (VC-JWT).
        `keys` is ignored: each worker signs with the ones it loaded from the same directory."""
        return await self._run(template, content, timestamp, claims)

    @classmethod
    def shared(cls, setup: WorkerSetup, workers: int = 1) -> "PooledRenderer":
        """One pool per setup in this process: apps made again with the same settings (tests,
        a reload) reuse its workers instead of starting more."""
        with _shared_lock:
            if (pool := _shared.get((setup, workers))) is None:
                pool = _shared[(setup, workers)] = cls(setup, workers)
            return pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


_shared: dict[tuple[WorkerSetup, int], PooledRenderer] = {}
_shared_lock = threading.Lock()


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
    _worker["keys"] = IssuerKeys(setup.credential_keys_dir, setup.jwks_url) if setup.credential_keys_dir else None


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
