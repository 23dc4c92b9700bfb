"""The three services as OS processes: start, wait until ready, stop gracefully.

Used by the run command, the end-to-end tests and the benchmark.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.platform.settings import REPO_ROOT

from .servers import die_with_parent, wait_until

SERVICES = ("enrollment", "attendance", "certificates")


@dataclass
class ServiceProcess:
    name: str
    port: int
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """VmHWM: the highest resident set size the process has had."""
        return _peak_rss_mb(self.process.pid)

    def peak_rss_with_workers_mb(self) -> float:
        """The service's peak plus each living child's (the certificate service's render workers):
        what it needs at most, since the peaks may not coincide."""
        return sum(_peak_rss_mb(pid) for pid in descendants(self.process.pid, with_self=True))


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # it ended meanwhile
        pass
    return 0.0


def descendants(pid: int, with_self: bool = False) -> set[int]:
    """The living processes started by `pid`, their children, and so on (from /proc)."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    family, grew = {pid}, True
    while grew:
        grew = False
        for child, ppid in parent.items():
            if ppid in family and child not in family:
                family.add(child)
                grew = True
    return family if with_self else family - {pid}


def start(name: str, port: int, env: dict[str, str], log_dir: Path, instance: int = 0) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (f"{name}.log" if not instance else f"{name}-{instance}.log")
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO_ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, env={**os.environ, **env, "HTTP_PORT": str(port)},
                                   preexec_fn=die_with_parent)  # fmt: skip
    return ServiceProcess(name, port, log, process)


def wait_ready(service: ServiceProcess, timeout: float = 60) -> None:
    def ready() -> bool:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}; see {service.log}")
        try:
            return httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout, service.name, interval=0.3)


def stop(services: list[ServiceProcess], timeout: float = 40) -> dict[str, int]:
    """SIGTERM all (readiness goes false, consumption stops, in-flight work finishes), then wait."""
    for s in services:
        if s.process.poll() is None:
            s.process.send_signal(signal.SIGTERM)
    codes = {}
    deadline = time.monotonic() + timeout
    for s in services:
        try:
            codes[s.log.stem] = s.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            s.process.kill()
            codes[s.log.stem] = s.process.wait()
    return codes


def stopped_cleanly(service: ServiceProcess, code: int) -> bool:
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; our lifespan logs "stopped".
    return code in (0, -signal.SIGTERM) and '"event": "stopped"' in service.log.read_text(errors="replace")
