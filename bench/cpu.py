"""CPU time per component during a stage, from /proc: where the two cores go.

Wall-clock rates on a shared 2-core machine move by 10-25 % between runs; CPU milliseconds
per item hardly do, so they are what to compare when judging a change.
"""

import os
from pathlib import Path

from devstack.processes import descendants

TICKS = os.sysconf("SC_CLK_TCK")


def _stats():
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm_end = (text := path.read_text()).rindex(")")
        except (OSError, ValueError):
            continue
        fields = text[comm_end + 2 :].split()  # from field 3 (state) on
        yield (
            int(path.parent.name),
            text[text.index("(") + 1 : comm_end],
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
        )


def _process_cpu_s(pid: int) -> float:
    return next((ticks / TICKS for p, _, _, ticks in _stats() if p == pid), 0.0)


def _family_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its living descendants (the certificate service's render
    workers: leaving them out would count the service without its rendering)."""
    family = descendants(pid, with_self=True)
    return sum(ticks for p, _, _, ticks in _stats() if p in family) / TICKS


def _group_cpu_s(pgid: int) -> float:
    return sum(ticks for _, _, group, ticks in _stats() if group == pgid) / TICKS


def _broker_pgid() -> int | None:
    return next((group for _, comm, group, _ in _stats() if comm == "beam.smp"), None)


class CpuMeter:
    """Snapshot CPU seconds of: each service process, the database and S3 servers (with their
    children), RabbitMQ, and this benchmark process (publisher and watchers)."""

    def __init__(self, services, mongo_pgid: int, s3_pgid: int):
        self._services = services
        self._groups = {"database (nx-27017)": mongo_pgid, "object store (SeaweedFS)": s3_pgid}
        if (broker := _broker_pgid()) is not None:
            self._groups["broker (RabbitMQ)"] = broker

    def snapshot(self) -> dict[str, float]:
        shot: dict[str, float] = {}
        for s in self._services:  # with its worker processes; the main process alone beside it
            shot[s.name] = shot.get(s.name, 0.0) + _family_cpu_s(s.process.pid)
            main = f"{s.name} (main process)"
            shot[main] = shot.get(main, 0.0) + _process_cpu_s(s.process.pid)
        for name, pgid in self._groups.items():
            shot[name] = _group_cpu_s(pgid)
        times = os.times()
        shot["benchmark (publisher, watchers)"] = times.user + times.system
        return shot

    @staticmethod
    def per_item_ms(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
        return {k: round((after[k] - before.get(k, 0.0)) * 1000 / items, 2) for k in after if items}
