"""The render pool (render + PAdES signature + credential in a worker process): the same document
and credential as rendering in process, a dead worker is replaced, and no worker outlives a
service that was killed."""

import asyncio
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

from services.certificates import credentials, domain
from services.certificates.issuer_keys import IssuerKeys
from services.certificates.render_pool import PooledRenderer, WorkerSetup
from services.certificates.signing import PdfSigner, check_signature
from shared.platform.settings import REPO_ROOT

from .test_renderer import LINKS, PROGRAM, certificate

JWKS_URL = credentials.CredentialLinks(LINKS).jwks()


@pytest.fixture(scope="module")
def pool(signing_key, credential_keys):
    renderer = PooledRenderer(WorkerSetup(signing_key.path, signing_key.passphrase, credential_keys, JWKS_URL))
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


def test_no_worker_outlives_its_service_killed_with_sigkill(signing_key, credential_keys, tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        from pathlib import Path
        from services.certificates.render_pool import PooledRenderer, WorkerSetup

        async def main():
            pool = PooledRenderer(WorkerSetup(Path({str(signing_key.path)!r}), {signing_key.passphrase!r},
                                              Path({str(credential_keys)!r}), "http://x/issuer/jwks.json"))
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
