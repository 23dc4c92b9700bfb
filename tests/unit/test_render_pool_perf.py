"""The render pool (render + PAdES signature + credential in a worker process): the same document
and credential as rendering in process, a dead or hung worker is replaced and only the render that
caused it fails, workers sign with the keys the service loaded, and no worker outlives a service
that was killed."""

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from pypdf import PdfReader

from services.certificates import credentials, domain, render_pool
from services.certificates.issuer_keys import IssuerKeys
from services.certificates.render_pool import PooledRenderer, RenderFailed, RenderPoolClosed, WorkerSetup
from services.certificates.signing import PdfSigner, check_signature
from shared.platform.settings import REPO_ROOT

from .test_renderer import LINKS, PROGRAM, certificate

JWKS_URL = credentials.CredentialLinks(LINKS).jwks()


@pytest.fixture(scope="module")
def pool(signing_key, credential_keys):
    renderer = PooledRenderer(WorkerSetup(signing_key.path, signing_key.passphrase, pems(credential_keys), JWKS_URL))
    yield renderer
    renderer.close()


async def test_the_worker_signs_the_credential_and_the_pdf_that_embeds_it(pool, signing_key, credential_keys):
    cert = certificate("Ahmad Fauzi, S.Sos.")
    vc = credentials.credential(PROGRAM, cert, LINKS, credentials.new_salt())
    content = domain.content(PROGRAM, cert, LINKS)
    pdf, token = await pool.render_with_credential(
        PROGRAM.template, content, cert.issued_at, credentials.jwt_claims(vc)
    )

    keys = IssuerKeys(credential_keys, JWKS_URL)
    decoded = jwt.decode(token, KeySet.import_key_set(keys.jwks()), algorithms=["RS256"])
    assert decoded.header["kid"] == keys.kid and decoded.claims["credentialSubject"]["licenseNumber"] == cert.number
    signer = PdfSigner(signing_key.path, signing_key.passphrase)
    signature = await asyncio.to_thread(check_signature, pdf, signer._trust)  # pyHanko runs its own loop
    assert signature["intact"] and signature["trusted"] and signature["covers_whole_file"]
    attached = [data for files in PdfReader(io.BytesIO(pdf)).attachments.values() for data in files]
    assert token.encode() in attached, "the credential travels inside the signed PDF"


async def test_a_worker_that_dies_is_replaced_and_the_render_retried(pool):
    cert = certificate("Siti Aminah")
    content = domain.content(PROGRAM, cert, LINKS)
    assert (await pool.render(PROGRAM.template, content, cert.issued_at)).startswith(b"%PDF-")
    for pid in list(pool._executor()._processes):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert (await pool.render(PROGRAM.template, content, cert.issued_at)).startswith(b"%PDF-")


def pems(directory) -> tuple[bytes, ...]:
    return IssuerKeys(directory, JWKS_URL).pems


# Names that make `_misbehaving` kill its worker, hang it, or raise a TimeoutError of the job's own.
CRASH, HANG, JOB_TIMEOUT = "Mati Mendadak", "Macet Selamanya", "Waktu Habis"


def _misbehaving(template: str, content: dict, timestamp, claims):
    """The worker's job, except for two names: a stand-in for a render that crashes Typst or
    pyHanko (or is killed for its memory), and for one stuck in native code."""
    if content["name"] == CRASH:
        os._exit(1)
    if content["name"] == HANG:
        time.sleep(600)
    if content["name"] == JOB_TIMEOUT:
        raise TimeoutError("a timeout inside the render, not a hung worker")
    return render_pool._work(template, content, timestamp, claims)


@contextlib.asynccontextmanager
async def misbehaving_pool(signing_key, timeout_s: float = 120):
    pool = PooledRenderer(WorkerSetup(signing_key.path, signing_key.passphrase), timeout_s=timeout_s)
    pool._job = _misbehaving
    try:
        await pool.start()
        yield pool
    finally:
        pool.close()


async def render_all(pool: PooledRenderer, names: list[str]) -> list:
    async def one(name: str) -> bytes:
        cert = certificate(name)
        return await pool.render(PROGRAM.template, domain.content(PROGRAM, cert, LINKS), cert.issued_at)

    return await asyncio.gather(*(one(name) for name in names), return_exceptions=True)


async def test_a_render_that_kills_its_worker_fails_alone_and_the_renders_beside_it_are_issued(signing_key):
    async with misbehaving_pool(signing_key) as pool:
        names = ["Siti Aminah", "Budi Santoso", CRASH, "Dewi Lestari", "Ahmad Fauzi"]
        results = dict(zip(names, await render_all(pool, names), strict=True))
        assert isinstance(results.pop(CRASH), RenderFailed)
        assert all(isinstance(pdf, bytes) and pdf.startswith(b"%PDF-") for pdf in results.values()), results
        assert (await render_all(pool, ["Rina Wati"]))[0].startswith(b"%PDF-"), "the pool goes on"


async def test_a_render_that_hangs_is_killed_after_the_timeout_and_the_renders_behind_it_are_issued(signing_key):
    async with misbehaving_pool(signing_key, timeout_s=8) as pool:
        hung = list(pool._executor()._processes)

        async def later(name: str):  # queued behind the hung one, with 3 s of its own deadline left when it is killed
            await asyncio.sleep(5)
            return (await render_all(pool, [name]))[0]

        failed, *issued = await asyncio.gather(
            render_all(pool, [HANG]), later("Siti Aminah"), later("Budi Santoso"), return_exceptions=True
        )
        assert isinstance(failed[0], RenderFailed) and "not done within 8 s" in str(failed[0]), failed
        assert all(isinstance(pdf, bytes) and pdf.startswith(b"%PDF-") for pdf in issued), issued
        assert not any(_alive(pid) for pid in hung), "the hung worker was killed"


async def test_a_timeout_raised_by_the_render_itself_is_its_error_not_a_hung_worker(signing_key):
    async with misbehaving_pool(signing_key, timeout_s=30) as pool:
        workers = set(pool._executor()._processes)
        (error,) = await render_all(pool, [JOB_TIMEOUT])
        assert isinstance(error, TimeoutError) and "inside the render" in str(error)
        assert set(pool._executor()._processes) == workers, "the pool was not killed"


async def test_a_pool_closed_under_renders_fails_them_and_makes_no_new_worker(signing_key):
    pool = PooledRenderer(WorkerSetup(signing_key.path, signing_key.passphrase), timeout_s=60)
    pool._job = _misbehaving
    await pool.start()
    # One running (hung), the rest queued behind it: at least the last is still in the pool's queue.
    rendering = asyncio.ensure_future(render_all(pool, [HANG, "Siti Aminah", "Budi Santoso", "Dewi Lestari"]))
    await asyncio.sleep(1)
    await asyncio.to_thread(pool.close, 0.5)
    errors = await asyncio.wait_for(rendering, 30)
    assert all(isinstance(error, RenderPoolClosed) for error in errors), errors
    assert not pool._pool and not pool._alone, "no pool made again after close()"
    with pytest.raises(RenderPoolClosed):
        await pool.render(PROGRAM.template, {}, certificate("Siti Aminah").issued_at)


async def test_a_render_cancelled_while_running_alone_has_its_worker_killed(signing_key):
    async with misbehaving_pool(signing_key) as pool:
        cert = certificate(HANG)
        alone = asyncio.ensure_future(
            pool._run_alone((PROGRAM.template, domain.content(PROGRAM, cert, LINKS), cert.issued_at, None))
        )
        deadline = time.monotonic() + 30
        while not (pool._alone and pool._alone._processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        worker = list(pool._alone._processes)
        await asyncio.sleep(3)  # spawned, started, and hanging in the job
        alone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await alone
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in worker) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert worker and not any(_alive(pid) for pid in worker), "the worker of the cancelled render was killed"
        assert pool._alone is None


async def test_start_starts_every_worker_and_the_last_service_sharing_a_pool_closes_it(signing_key):
    setup = WorkerSetup(signing_key.path, signing_key.passphrase, templates=render_pool.TEMPLATES)
    first, second = PooledRenderer.shared(setup, 2, 77.0), PooledRenderer.shared(setup, 2, 77.0)
    assert first is second
    await first.start()
    workers = list(first._executor()._processes)
    assert len(workers) == 2, "both workers run before the first certificate"
    first.release()
    assert first._pool is not None, "another service still uses it"
    second.release()
    assert first._pool is None
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


async def test_a_replaced_worker_signs_with_the_keys_the_service_published(tmp_path, signing_key):
    from devstack.keys import make_key

    make_key(tmp_path / "2026-01-01.pem")
    published = IssuerKeys(tmp_path, JWKS_URL)
    pool = PooledRenderer(WorkerSetup(signing_key.path, signing_key.passphrase, published.pems, JWKS_URL))
    try:
        await pool.start()
        make_key(tmp_path / "2027-01-01.pem")  # a rotation begun on disk, the service not restarted yet
        for pid in list(pool._executor()._processes):
            os.kill(pid, signal.SIGKILL)
        cert = certificate("Siti Aminah")
        vc = credentials.credential(PROGRAM, cert, LINKS, credentials.new_salt())
        _, token = await pool.render_with_credential(
            PROGRAM.template, domain.content(PROGRAM, cert, LINKS), cert.issued_at, credentials.jwt_claims(vc)
        )
        decoded = jwt.decode(token, KeySet.import_key_set(published.jwks()), algorithms=["RS256"])
        assert decoded.header["kid"] == published.kid
    finally:
        pool.close()


def test_no_worker_outlives_its_service_killed_with_sigkill(signing_key, credential_keys, tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        from pathlib import Path
        from services.certificates.issuer_keys import IssuerKeys
        from services.certificates.render_pool import PooledRenderer, WorkerSetup

        async def main():
            pool = PooledRenderer(WorkerSetup(Path({str(signing_key.path)!r}), {signing_key.passphrase!r},
                                              IssuerKeys(Path({str(credential_keys)!r}), "http://x/j.json").pems,
                                              "http://x/j.json"))
            await pool.start()
            print(*pool._executor()._processes, flush=True)
            await asyncio.sleep(60)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    (tmp_path / "service.py").write_text(script)
    service = subprocess.Popen([sys.executable, str(tmp_path / "service.py")], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})  # fmt: skip
    workers = [int(pid) for pid in service.stdout.readline().split()]
    assert workers and all(_alive(pid) for pid in workers)
    service.kill()
    service.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "the worker died with its service"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
