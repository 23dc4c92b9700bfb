"""The three services as separate processes, on the session's servers and a fresh vhost."""

import datetime as dt
import json
import os
import signal
import subprocess

import pytest

from devstack import processes
from devstack.rabbit import trust_settings, with_service_users
from devstack.servers import free_port
from ops import rabbitmq_users
from shared.platform import auth
from shared.platform.settings import REPO_ROOT
from tests.support import unique

OPERATOR_KEY = auth.new_key()
CONSOLE_KEY = auth.new_key()  # the console's own key, allowed to act for its signed-in operators
RESULTS = REPO_ROOT / "docs" / "fault-results"
RUNS_KEPT = 3


class System:
    def __init__(self, env: dict, databases: dict, tmp_path):
        self.env, self.databases, self.tmp_path = env, databases, tmp_path
        self.ports = {name: free_port() for name in processes.SERVICES}
        self.base = f"http://127.0.0.1:{self.ports['certificates']}"
        self.env["PUBLIC_BASE_URL"] = self.base
        self.services: dict[str, processes.ServiceProcess] = {}

    def start(self, name: str, instance: int = 0) -> None:
        """Start (or restart) a service; instance > 0 adds a replica on its own HTTP port."""
        key = f"{name}-{instance}" if instance else name
        if key not in self.ports:
            self.ports[key] = free_port()
        # Least privilege: each service connects as its own RabbitMQ user.
        env = {**self.env, "MONGODB_DATABASE": self.databases[name], "AMQP_URL": self.amqp_urls[name]}
        self.services[key] = processes.start(name, self.ports[key], env, self.tmp_path, instance)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown at all; unacked messages go back to the queue."""
        service = self.services[name]
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)


@pytest.fixture(scope="session")
def rabbitmq_users_of_session():
    """The per-service users, named for this session (the broker is shared; users are global)."""
    prefix = unique("e2e")
    yield prefix, rabbitmq_users.new_passwords()
    rabbitmq_users.delete_users(prefix)


@pytest.fixture
def system(amqp_url, mongodb_url, s3, tmp_path, rabbitmq_users_of_session, signing_key, credential_keys):
    env = {"AMQP_URL": amqp_url, "MONGODB_URL": mongodb_url, "S3_ENDPOINT": s3.endpoint,
           "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key, "S3_BUCKET": s3.bucket,
           "SETTLE_SECONDS": "1", "OUTBOX_INTERVAL_S": "0.3", "SIGNING_PKCS12_PATH": str(signing_key.path),
           "SIGNING_PKCS12_PASSPHRASE": signing_key.passphrase, "CREDENTIAL_KEYS_DIR": str(credential_keys),
           "OPERATOR_API_KEYS": f"e2e:{auth.hash_key(OPERATOR_KEY)},console:{auth.hash_key(CONSOLE_KEY)}",
           "OPERATOR_DELEGATES": "console"}  # fmt: skip
    system = System(env, {name: unique(name) for name in processes.SERVICES}, tmp_path)
    prefix, passwords = rabbitmq_users_of_session
    system.amqp_urls = with_service_users(amqp_url, passwords, prefix)
    system.env.update(trust_settings(prefix))  # the users are named for this session
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


@pytest.fixture(scope="session")
def fault_table():
    """Rows the fault tests append; written to docs/fault-results.md when the session ends."""
    rows: list[dict] = []
    yield rows
    if rows and os.environ.get("FAULT_RESULTS", "write") == "write":
        write_fault_results(rows)


def write_fault_results(rows: list[dict]) -> None:
    """Keep the last few runs, so 'three in a row' can be read off the table."""
    store = RESULTS.with_suffix(".json")
    runs = json.loads(store.read_text()) if store.exists() else []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    runs.append({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": commit.stdout.strip(),
                 "rows": rows})  # fmt: skip
    runs = runs[-RUNS_KEPT:]
    store.write_text(json.dumps(runs, indent=1) + "\n")
    lines = ["# Fault runs", "", "Written by `tests/e2e/test_faults.py` at the end of each run (the last "
             f"{RUNS_KEPT} runs are kept). Each fault is injected during a replay, after the first certificate; "
             "*recovered* is the time from healing the fault to the last expected certificate.", ""]  # fmt: skip
    for run in reversed(runs):
        lines += [f"## Run at {run['at']} (commit {run['commit']})", "",
                  "| fault | participants | expected | issued | lost | duplicated | numbers gapless | dead-lettered | recovered (s) |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---:|"]  # fmt: skip
        for r in run["rows"]:
            lines.append(f"| {r['fault']} | {r['participants']} | {r['expected']} | {r['issued']} | {r['lost']} | "
                         f"{r['duplicated']} | {'yes' if r['gapless'] else 'NO'} | {r['dead_lettered']} | "
                         f"{r['recovered_s']} |")  # fmt: skip
        lines.append("")
    RESULTS.with_suffix(".md").write_text("\n".join(lines))
