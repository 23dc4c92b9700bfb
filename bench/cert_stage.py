"""The certificate stage against its bare path, with the Open Badges credential, in rounds.

    .venv/bin/python -m bench.cert_stage [--n 600] [--rounds 2] [--profile] [--env KEY=VALUE ...] [--b KEY=VALUE ...]

Each round measures, one after the other on the same machine:
- the bare path: render + sign + credential (content and VC-JWT) for one certificate after
  another in one thread, as `bench.run.bare_credential` does: certificates/s and CPU ms each;
- the stage: one certificate process with credential keys, `--n` completions queued into it:
  certificates/s from the first publish to the last `certificate.issued`, and CPU ms per
  certificate of the service *with its child processes* (a process pool counts), nx-27017,
  SeaweedFS, RabbitMQ and this benchmark.
Rounds alternate, so a busy machine slows both alike; compare the ratios and the CPU per item.
`--profile` runs py-spy on the service (`--gil`: only the thread holding the GIL, so the shares are
of the Python CPU; native code that releases the GIL, like Typst's compile, is not in them).
Results: bench/results/<stamp>-certstage.json.
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from devstack import processes, servers
from devstack.keys import make_key
from devstack.rabbit import fresh_vhost
from devstack.upstream import Upstream
from services.certificates import credentials, domain
from services.certificates.issuer_keys import IssuerKeys
from services.certificates.renderer import SignedRenderer, TypstRenderer
from services.certificates.signing import PdfSigner
from shared import contract

from . import workload
from .cpu import CpuMeter
from .run import PROGRAM, RESULTS, Stack, _sample_certificate, completed_event, probe_timeout, until


def bare_path(n: int, signing: tuple[Path, str], keys_dir: Path) -> dict:
    """Render + sign + credential, one certificate after another, in this thread."""
    links = domain.Links("http://127.0.0.1:8000")
    keys = IssuerKeys(keys_dir, credentials.CredentialLinks(links).jwks())
    renderer = SignedRenderer(TypstRenderer(), PdfSigner(*signing))
    now = dt.datetime.now(dt.UTC)
    cert = _sample_certificate(now)

    def one(i: int) -> None:
        content = domain.content(PROGRAM, cert, links)
        vc = credentials.credential(PROGRAM, cert, links, credentials.new_salt())
        content["credential"] = keys.sign(credentials.jwt_claims(vc))
        renderer.render_sync(PROGRAM.template, {**content, "number": f"{i:04d}/BH/HUMAS-LU/2026"}, now)

    one(0)  # the first compile loads fonts
    cpu, wall = time.process_time(), time.perf_counter()  # all threads: Typst may use its own
    for i in range(n):
        one(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"per_s": round(n / wall, 1), "cpu_ms": round(cpu * 1000 / n, 2)}


async def stage(stack: Stack, amqp_url: str, n: int, env: dict[str, str], profile: Path | None) -> dict:
    tag = f"cs-{uuid.uuid4().hex[:6]}"
    services = stack.start(["certificates"], {**stack.env(amqp_url, tag), **env}, tag)
    service = services[0]
    meter = CpuMeter(services, stack.mongo.process.pid, stack.s3.process.pid)
    people = workload.cohort(PROGRAM, 1, seed=int(time.time()))[:n]
    issued: dict[str, float] = {}
    sent: dict[str, float] = {}
    async with Upstream(amqp_url) as upstream:
        watch = await upstream.listen(contract.CERTIFICATE_ISSUED, durable=True)

        async def on(message):
            async with message.process():
                issued.setdefault(json.loads(message.body)["data"]["nip"], time.perf_counter())

        await watch.consume(on)
        now = dt.datetime.now(dt.UTC).isoformat()

        def events():
            for p in people:
                sent[p.nip] = time.perf_counter()
                yield completed_event(p, now)

        spy = None
        if profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "200",
                                    "--gil", "--subprocesses", "--nonblocking", "--pid", str(service.process.pid), "-o", str(profile)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        before = meter.snapshot()
        started = time.perf_counter()
        await upstream.publish_many(events(), 256)
        await until(lambda: len(issued) >= n, probe_timeout(n), lambda: f"{len(issued)} of {n} certificates issued")
        elapsed = time.perf_counter() - started
        cpu = meter.per_item_ms(before, meter.snapshot(), n)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    rss, rss_with_workers = service.peak_rss_mb(), service.peak_rss_with_workers_mb()
    processes.stop(services)
    stack.running.remove(service)
    latencies = sorted(issued[k] - sent[k] for k in issued)
    return {"per_s": round(n / elapsed, 1), "cpu_ms_per_certificate": cpu, "peak_rss_mb": round(rss, 1),
            "peak_rss_with_workers_mb": round(rss_with_workers, 1),
            "publish_to_issued_ms": {"p50": round(statistics.median(latencies) * 1000),
                                     "p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000)}}  # fmt: skip


async def main_async(args) -> dict:
    extra = dict(kv.split("=", 1) for kv in args.env)
    rounds = []
    with (
        tempfile.TemporaryDirectory(prefix="humas-certstage-") as tmp,
        Stack(Path(tmp)) as stack,
        fresh_vhost("bench") as amqp,
    ):
        keys_dir = Path(tmp) / "credential-keys"
        make_key(keys_dir / "bench.pem")
        env = {"CREDENTIAL_KEYS_DIR": str(keys_dir), **extra}
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for r in range(args.rounds):
            bare = await asyncio.to_thread(bare_path, args.bare_n, stack.signing, keys_dir)
            profile = RESULTS / f"{stamp}-certstage-r{r}-profile.txt" if args.profile else None
            variant = dict(kv.split("=", 1) for kv in args.b) if r % 2 else {}
            measured = await stage(stack, amqp, args.n, {**env, **variant}, profile)
            service_cpu = measured["cpu_ms_per_certificate"]["certificates"]
            row = {"variant": variant, "bare": bare, "stage": measured, "rate_ratio": round(measured["per_s"] / bare["per_s"], 2),
                   "cpu_ratio": round(service_cpu / bare["cpu_ms"], 2), "profile": str(profile) if profile else None}  # fmt: skip
            rounds.append(row)
            print(f"round {r} {variant or ''}: bare {bare['per_s']}/s {bare['cpu_ms']} ms | stage {measured['per_s']}/s, service "
                  f"{service_cpu} ms/cert, rate ×{row['rate_ratio']}, CPU ×{row['cpu_ratio']} | "
                  f"{measured['cpu_ms_per_certificate']} | latency {measured['publish_to_issued_ms']}", flush=True)  # fmt: skip
    return {"at": dt.datetime.now(dt.UTC).isoformat(), "n": args.n, "env": extra, "rounds": rounds,
            "load": os.getloadavg()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=600, help="completions per stage run")
    parser.add_argument("--bare-n", type=int, default=200, help="certificates per bare-path run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="py-spy --gil on the service during each stage run")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service (repeatable)")
    parser.add_argument(
        "--b",
        action="append",
        default=[],
        help="KEY=VALUE for the service in odd rounds only: an A/B comparison (repeatable)",
    )
    args = parser.parse_args()
    servers.ensure_rabbitmq("amqp://guest:guest@127.0.0.1:5672/")
    result = asyncio.run(main_async(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-certstage.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
