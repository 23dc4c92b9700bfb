"""The three services as separate processes, on the session's servers and a fresh vhost."""

import signal

import pytest

from devstack import processes
from devstack.servers import free_port
from tests.support import unique


class System:
    def __init__(self, env: dict, databases: dict, tmp_path):
        self.env, self.databases, self.tmp_path = env, databases, tmp_path
        self.ports = {name: free_port() for name in processes.SERVICES}
        self.base = f"http://127.0.0.1:{self.ports['certificates']}"
        self.env["PUBLIC_BASE_URL"] = self.base
        self.services: dict[str, processes.ServiceProcess] = {}

    def start(self, name: str) -> None:
        env = {**self.env, "MONGODB_DATABASE": self.databases[name]}
        self.services[name] = processes.start(name, self.ports[name], env, self.tmp_path)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown at all; unacked messages go back to the queue."""
        service = self.services[name]
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)


@pytest.fixture
def system(amqp_url, mongodb_url, s3, tmp_path):
    env = {"AMQP_URL": amqp_url, "MONGODB_URL": mongodb_url, "S3_ENDPOINT": s3.endpoint,
           "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key, "S3_BUCKET": s3.bucket,
           "SETTLE_SECONDS": "1", "OUTBOX_INTERVAL_S": "0.3"}  # fmt: skip
    system = System(env, {name: unique(name) for name in processes.SERVICES}, tmp_path)
    for name in processes.SERVICES:
        system.start(name)
    for service in system.services.values():
        processes.wait_ready(service)
    system.mongodb_url = mongodb_url
    yield system
    services = list(system.services.values())
    codes = processes.stop(services)
    for service in services:
        assert processes.stopped_cleanly(service, codes[service.log.stem]), service.log.read_text()[-2000:]
