"""Sampling profiles of running service processes with py-spy: the hot paths of a replay."""

import collections
import signal
import subprocess
import sys
from pathlib import Path

from devstack import processes


class Profiles:
    """`py-spy record` on each service while a stage runs; then the functions holding most samples."""

    def __init__(self, services: list[processes.ServiceProcess], out_dir: Path, stamp: str):
        self.files = {s.name: out_dir / f"{stamp}-profile-{s.name}.txt" for s in services}
        self._spies = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "--rate",
                    "100",
                    "--nonblocking",
                    "--pid",
                    str(s.process.pid),
                    "-o",
                    str(self.files[s.name]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for s in services
        ]

    def stop(self) -> None:
        for spy in self._spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        for spy in self._spies:
            spy.wait(60)

    def top(self, name: str, n: int = 12) -> list[tuple[str, float]]:
        """Self time by function (the innermost frame of each sampled stack), as shares."""
        path = self.files[name]
        if not path.exists():
            return []
        own: collections.Counter[str] = collections.Counter()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            own[_short(frames[-1])] += int(count)
        total = sum(own.values()) or 1
        return [(frame, round(100 * k / total, 1)) for frame, k in own.most_common(n)]


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" → "function (module.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name
