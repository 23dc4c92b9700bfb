"""Session-wide real servers: a MongoDB-wire server (nx-27017) and an S3 server (SeaweedFS).

RabbitMQ is the machine's own (scripts/test starts it if installed and down); each test
that needs it gets a fresh vhost. Set MONGODB_URL / S3_ENDPOINT (+ keys) to use others.
"""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import servers
from devstack.rabbit import fresh_vhost

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "artefacts"


@dataclass(frozen=True)
class S3Info:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory):
    """The session's local MongoDB-wire server (None when MONGODB_URL points elsewhere)."""
    if os.environ.get("MONGODB_URL"):
        yield None
        return
    server = servers.LocalMongo(tmp_path_factory.mktemp("mongodb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongodb_url(mongodb_server):
    return mongodb_server.url if mongodb_server else os.environ["MONGODB_URL"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    if endpoint := os.environ.get("S3_ENDPOINT"):
        yield endpoint, servers.S3Credentials(os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]), None
        return
    creds = servers.S3Credentials("test-" + uuid.uuid4().hex[:8], uuid.uuid4().hex)
    server = servers.LocalS3(tmp_path_factory.mktemp("s3"), creds)
    server.start()
    yield server.endpoint, creds, server
    server.stop()


@pytest.fixture
def s3(s3_server) -> S3Info:
    """A private bucket of this test's own."""
    endpoint, creds, server = s3_server
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    if server is not None:
        server.make_bucket(bucket)
    return S3Info(endpoint, creds.access_key, creds.secret_key, bucket)


@pytest.fixture
def amqp_url():
    with fresh_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS


@dataclass(frozen=True)
class SigningKey:
    path: Path
    passphrase: str


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> SigningKey:
    """A self-signed PKCS#12 key, as the local run makes on first start."""
    from devstack.keys import make_self_signed

    key = SigningKey(tmp_path_factory.mktemp("signing") / "signing.p12", uuid.uuid4().hex)
    make_self_signed(key.path, key.passphrase)
    return key


@pytest.fixture(scope="session")
def credential_keys(tmp_path_factory) -> Path:
    """A directory with one credential signing key (RSA, PEM), as the local run makes on first start."""
    from devstack.keys import make_key

    directory = tmp_path_factory.mktemp("credential-keys")
    make_key(directory / "2026-01-01.pem")
    return directory
