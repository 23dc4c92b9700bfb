"""Benchmark: the year replayed through the system, beside the bare limits of its parts.

    scripts/bench [--scale N] [--window W] [--cert-probe M] [--stages bare,replay,cert,attendance] [--profile]

Measures in one run: the bare broker round trip (aio-pika publish with confirms, then
consume with ack), the bare database rate (single-document upserts, same driver and server),
the bare renderer (the certificate template to PDF in process), then the system replaying
the year as upstream would, then the certificate stage alone with one and two processes, then
the attendance service alone on a queue filled beforehand. Prints each stage's ratio to its
bare limit and the CPU milliseconds each component spent per item; writes
bench/results/<stamp>.json and, with the replay, a .png.
"""

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aio_pika
import httpx
from pymongo import AsyncMongoClient
from tqdm import tqdm

from devstack import processes, servers
from devstack.keys import make_key, make_self_signed
from devstack.rabbit import fresh_vhost
from devstack.upstream import Upstream, cloud_event
from services.certificates import credentials, domain
from services.certificates.issuer_keys import IssuerKeys
from services.certificates.renderer import SignedRenderer, TypstRenderer
from services.certificates.signing import PdfSigner
from shared import contract
from shared.contract.events import completed_event_id
from shared.contract.programs import Programs
from shared.platform.messaging import amqp_user
from shared.platform.settings import REPO_ROOT

from . import workload
from .cpu import CpuMeter
from .profile import Profiles

RESULTS = REPO_ROOT / "bench" / "results"
PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="cohorts of 1,248 (100 = 124,800 participants)")
    parser.add_argument("--window", type=int, default=256, help="publisher confirms outstanding")
    parser.add_argument("--cert-probe", type=int, default=600, help="completions for the certificate-stage runs")
    parser.add_argument("--bare-cap", type=int, default=20_000, help="messages/upserts for the bare limits")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the last certificate")
    parser.add_argument("--profile", action="store_true", help="sample each service with py-spy during the replay")
    parser.add_argument("--attendance-scale", type=int, default=1, help="cohorts for the attendance-alone stage")
    parser.add_argument(
        "--stages",
        default="bare,replay,cert,attendance",
        help="which of bare,replay,cert,attendance to run (all by default)",
    )
    return parser.parse_args()


# ---- bare limits ---------------------------------------------------------------------------


async def bare_broker(amqp_url: str, n: int, size: int, window: int) -> float:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=32)
    queue = await channel.declare_queue(f"bench.bare.{uuid.uuid4().hex[:8]}", durable=True,
                                        arguments={"x-queue-type": "quorum"})  # fmt: skip
    body = b"x" * size
    started = time.perf_counter()
    pending: set = set()
    for _ in range(n):
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        pending.add(asyncio.ensure_future(channel.default_exchange.publish(message, routing_key=queue.name)))
        if len(pending) >= window:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*pending)
    received = 0
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            received += 1
            if received == n:
                break
    elapsed = time.perf_counter() - started
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return n / elapsed


async def bare_database(mongodb_url: str, n: int) -> float:
    client = AsyncMongoClient(mongodb_url, tz_aware=True, w="majority")
    collection = client[f"bench_bare_{uuid.uuid4().hex[:8]}"]["upserts"]
    started = time.perf_counter()
    for i in range(n):
        # Addressed by _id like the services' writes (nx-27017 scans for compound filters).
        await collection.update_one({"_id": f"p:{i % 1248:018d}"}, {"$max": {f"presence.s{i % 16 + 1}": 115}},
                                    upsert=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    await client.drop_database(collection.database.name)
    await client.close()
    return n / elapsed


def _sample_certificate(now: dt.datetime) -> domain.Certificate:
    """One numbered certificate, as the bare-path measurements render it."""
    return domain.Certificate(certificate_id=str(uuid.uuid4()), code=domain.new_code(), program_id=PROGRAM.id,
                              nip="198503122010011004", revision=1, name="Peserta 000001", jenjang="ahli_muda",
                              unit_kerja="Satker 001", sessions=tuple(range(1, 15)), jp=28, completed_at=now,
                              issued_at=now).numbered(PROGRAM, 1)  # fmt: skip


def bare_renderer(n: int, signing: tuple[Path, str]) -> float:
    """The same template to a finished PDF in process: rendered and signed, as the service does."""
    renderer = SignedRenderer(TypstRenderer(), PdfSigner(*signing))
    now = dt.datetime.now(dt.UTC)
    cert = _sample_certificate(now)
    content = domain.content(PROGRAM, cert, domain.Links("http://127.0.0.1:8000"))
    renderer.render_sync(PROGRAM.template, content, now)  # the first compile loads fonts
    started = time.perf_counter()
    for i in range(n):
        renderer.render_sync(PROGRAM.template, {**content, "number": f"{i:04d}/BH/HUMAS-LU/2026"}, now)
    return n / (time.perf_counter() - started)


def bare_credential(n: int, signing: tuple[Path, str], keys_dir: Path) -> dict:
    """What the Open Badges credential adds to a certificate, in CPU ms per item, in one run:
    render+sign alone, then credential (content, VC-JWT signature) + render+sign with it embedded.
    The two alternate, so a busy machine slows both alike."""
    make_key(keys_dir / "bench.pem")
    links = domain.Links("http://127.0.0.1:8000")
    keys = IssuerKeys(keys_dir, credentials.CredentialLinks(links).jwks())
    renderer = SignedRenderer(TypstRenderer(), PdfSigner(*signing))
    now = dt.datetime.now(dt.UTC)
    cert = _sample_certificate(now)
    content = domain.content(PROGRAM, cert, links)

    def plain(i):
        renderer.render_sync(PROGRAM.template, {**content, "number": f"{i:04d}/BH/HUMAS-LU/2026"}, now)

    issuing = [0.0]

    def with_credential(i):
        started = time.process_time()
        vc = credentials.credential(PROGRAM, cert, links, credentials.new_salt())
        jwt = keys.sign(credentials.jwt_claims(vc))
        issuing[0] += time.process_time() - started
        renderer.render_sync(
            PROGRAM.template, {**content, "number": f"{i:04d}/BH/HUMAS-LU/2026", "credential": jwt}, now
        )

    plain(0), with_credential(0)  # the first compiles load fonts
    spent = {plain: 0.0, with_credential: 0.0}
    for i in range(n):
        for work in (plain, with_credential):
            started = time.process_time()
            work(i)
            spent[work] += time.process_time() - started
    base, extra, issue = (spent[plain] * 1000 / n, spent[with_credential] * 1000 / n, issuing[0] * 1000 / n)
    # The issue itself (content and signature) is measured directly; the embedding's cost is within
    # the noise of the difference, which is reported as it came.
    return {
        "render_sign_cpu_ms": round(base, 2),
        "with_credential_cpu_ms": round(extra, 2),
        "credential_issue_cpu_ms": round(issue, 3),
        "credential_share": round(issue / base, 3),
        "difference_cpu_ms": round(extra - base, 2),
    }


# ---- the system ----------------------------------------------------------------------------


class Stack:
    """Local servers for the run (fresh data), a vhost of its own, services on demand."""

    def __init__(self, root: Path):
        self.root = root
        self.mongo = servers.LocalMongo(root / "mongodb")
        self.creds = servers.S3Credentials("bench-" + uuid.uuid4().hex[:6], uuid.uuid4().hex)
        self.s3 = servers.LocalS3(root / "s3", self.creds)
        self.running: list[processes.ServiceProcess] = []
        self.signing = (root / "signing.p12", uuid.uuid4().hex)

    def __enter__(self) -> "Stack":
        make_self_signed(*self.signing)
        self.mongo.start()
        self.s3.start()
        return self

    def __exit__(self, *exc) -> None:
        processes.stop(self.running)
        self.s3.stop()
        self.mongo.stop()

    def env(self, amqp_url: str, tag: str) -> dict[str, str]:
        bucket = f"bench-{tag}"
        self.s3.make_bucket(bucket)
        return {"AMQP_URL": amqp_url, "MONGODB_URL": self.mongo.url, "S3_ENDPOINT": self.s3.endpoint,
                "S3_ACCESS_KEY": self.creds.access_key, "S3_SECRET_KEY": self.creds.secret_key, "S3_BUCKET": bucket,
                "SETTLE_SECONDS": "1", "OUTBOX_INTERVAL_S": "0.5", "LOG_LEVEL": "warning",
                "COMPLETED_PUBLISHERS": amqp_user(amqp_url),  # one login for all here, the bench's own too
                "SIGNING_PKCS12_PATH": str(self.signing[0]), "SIGNING_PKCS12_PASSPHRASE": self.signing[1]}  # fmt: skip

    def cpu_meter(self, services) -> CpuMeter:
        return CpuMeter(services, self.mongo.process.pid, self.s3.process.pid)

    def start(self, names: list[str], env: dict[str, str], tag: str) -> list[processes.ServiceProcess]:
        started = []
        for i, name in enumerate(names):
            db = {"MONGODB_DATABASE": f"{name}_{tag}"}
            started.append(processes.start(name, servers.free_port(), {**env, **db}, self.root / "logs", instance=i))
        for service in started:
            processes.wait_ready(service)
        self.running.extend(started)
        return started


async def consumed(http, service: processes.ServiceProcess) -> int:
    """Messages the service has handled and acked, from its own Prometheus counter."""
    text = (await http.get(f"{service.url}/metrics")).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("humas_messages_consumed_total{") and 'outcome="acked"' in line))  # fmt: skip


async def replay_year(stack: Stack, amqp_url: str, args) -> dict:
    people = workload.cohort(PROGRAM, args.scale)
    expected = workload.expected_completions(PROGRAM, people)
    total = workload.count_events(people)
    services = stack.start(["enrollment", "attendance", "certificates"], stack.env(amqp_url, "year"), "year")
    samples: list[dict] = []
    completed_at: dict[str, float] = {}
    issued_at: dict[str, float] = {}
    async with Upstream(amqp_url) as upstream:
        # Durable: a broker restart during a long run must not take the watchers' queues (and the
        # events in them) away; the run's own vhost is deleted with them at the end.
        watch_completed = await upstream.listen(contract.COMPLETED, durable=True)
        watch_issued = await upstream.listen(contract.CERTIFICATE_ISSUED, durable=True)
        http = httpx.AsyncClient(timeout=5)
        attendance = next(s for s in services if s.name == "attendance")

        attended = {p.nip: sorted(p.sessions) for p in people}
        wrong: set[str] = set()  # completed with other sessions than the person attended

        async def on(message, into):
            async with message.process():
                data = json.loads(message.body)["data"]
                into.setdefault(data["nip"], time.perf_counter())
                if into is completed_at and data["sessions"] != attended[data["nip"]]:
                    wrong.add(data["nip"])

        await watch_completed.consume(lambda m: on(m, completed_at))
        await watch_issued.consume(lambda m: on(m, issued_at))
        published = 0
        started = time.perf_counter()

        async def sample() -> None:
            while True:
                samples.append({"t": time.perf_counter() - started, "published": published,
                                "attendance_done": await consumed(http, attendance), "completed": len(completed_at),
                                "issued": len(issued_at)})  # fmt: skip
                await asyncio.sleep(0.5)

        meter = stack.cpu_meter(services)
        before = meter.snapshot()
        sampler = asyncio.ensure_future(sample())
        profiles = Profiles(services, RESULTS, time.strftime("%Y%m%dT%H%M%S")) if args.profile else None
        with tqdm(total=total, desc="publishing the year", unit="event") as bar:

            def progress(k: int) -> None:
                nonlocal published
                published += k
                bar.update(k)

            await upstream.publish_many(workload.events(PROGRAM, people), args.window, progress)
        published_in = time.perf_counter() - started
        with tqdm(total=len(expected), desc="certificates issued", unit="cert", initial=len(issued_at)) as bar:
            deadline = time.monotonic() + args.timeout
            while len(issued_at) < len(expected) and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                bar.update(len(issued_at) - bar.n)
        done = [s for s in samples if s["attendance_done"] >= total]
        attendance_done_in = done[0]["t"] if done else time.perf_counter() - started
        cpu = meter.per_item_ms(before, meter.snapshot(), total)
        await asyncio.sleep(0.6)
        sampler.cancel()
        await http.aclose()
    hot = {}
    if profiles:
        profiles.stop()
        hot = _print_hot(profiles, services)
    elapsed = max(issued_at.values(), default=started) - started
    latencies = sorted(issued_at[n] - completed_at[n] for n in issued_at if n in completed_at)
    rss = {s.name: round(s.peak_rss_mb(), 1) for s in services}
    rss_with_workers = {s.name: round(s.peak_rss_with_workers_mb(), 1) for s in services}
    processes.stop(services)
    stack.running.clear()
    return {
        "participants": len(people),
        "events": total,
        "expected_certificates": len(expected),
        "certificates": len(issued_at),
        "lost": len(expected - set(issued_at)),
        "wrong_sessions": len(wrong),
        "publish_s": round(published_in, 2),
        "first_event_to_last_certificate_s": round(elapsed, 2),
        "attendance_events_per_s": round(total / attendance_done_in, 1),
        "certificates_per_s_overall": round(len(issued_at) / elapsed, 1) if elapsed else None,
        "latency_completed_to_issued_ms": _percentiles(latencies),
        "peak_rss_mb": rss,
        "peak_rss_with_workers_mb": rss_with_workers,
        "cpu_ms_per_event": cpu,
        "samples": samples,
        "hot_paths": hot,
    }


def _print_hot(profiles: Profiles, services) -> dict:
    hot = {s.name: profiles.top(s.name) for s in services}
    for name, rows in hot.items():
        print(f"  hot paths in {name} (share of samples, own time):")
        for frame, share in rows:
            print(f"    {share:5.1f} %  {frame}")
    return hot


async def until(done: Callable[[], bool], timeout: float, progress: Callable[[], str]) -> None:
    """Wait for `done`; a stage that loses an item fails after `timeout` s, saying how far it got,
    instead of hanging the benchmark."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{progress()} after {timeout:.0f} s")
        await asyncio.sleep(0.05)


def probe_timeout(n: int) -> float:
    """Generous: ten times the slowest certificate rate seen on this kind of machine (about 30/s)."""
    return 60 + n / 3


def completed_event(person, now: str) -> tuple[str, dict]:
    """A 16-of-16 `completed` as the attendance service publishes it: the certificate stages' input."""
    data = {"program_id": PROGRAM.id, "nip": person.nip, "name": "Peserta", "jenjang": person.jenjang,
            "unit_kerja": "Satker", "sessions": list(range(1, 17)), "jp": 32, "completed_at": now}  # fmt: skip
    return "completed", cloud_event(
        "completed", data, source="/services/attendance", id=completed_event_id(PROGRAM.id, person.nip)
    )


async def certificate_stage(
    stack: Stack, amqp_url: str, n: int, instances: int, profile: bool = False
) -> tuple[float, dict]:
    """Completions straight into the certificate queue: certificates/s with `instances` processes,
    and the CPU milliseconds each component spent per certificate."""
    tag = f"cert{instances}-{uuid.uuid4().hex[:6]}"
    services = stack.start(["certificates"] * instances, stack.env(amqp_url, tag), tag)
    meter = stack.cpu_meter(services)
    rng_people = workload.cohort(PROGRAM, 1, seed=instances)[:n]
    issued: set[str] = set()
    async with Upstream(amqp_url) as upstream:
        watch = await upstream.listen(contract.CERTIFICATE_ISSUED, durable=True)

        async def on(message):
            async with message.process():
                issued.add(json.loads(message.body)["data"]["nip"])

        await watch.consume(on)
        now = dt.datetime.now(dt.UTC).isoformat()
        events = (completed_event(p, now) for p in rng_people)
        spies = Profiles(services, RESULTS, f"{time.strftime('%Y%m%dT%H%M%S')}-cert{instances}") if profile else None
        before = meter.snapshot()
        started = time.perf_counter()
        await upstream.publish_many(events, 256)
        await until(lambda: len(issued) >= n, probe_timeout(n), lambda: f"{len(issued)} of {n} certificates issued")
        elapsed = time.perf_counter() - started
        cpu = meter.per_item_ms(before, meter.snapshot(), n)
    if spies:
        spies.stop()
        _print_hot(spies, services[:1])
    processes.stop(services)
    for s in services:
        stack.running.remove(s)
    return n / elapsed, cpu


async def attendance_stage(stack: Stack, amqp_url: str, scale: int, profile: bool = False) -> tuple[float, dict, float]:
    """The attendance service alone on a full queue: the year's events (one cohort) are published
    while it is stopped, then it takes them in with the machine to itself. Events/s from its first
    acked message to its last (start-up excluded), CPU ms per event per component, and its peak RSS
    in MB (at scale 100 it includes completing a hundred thousand settled participants)."""
    tag = f"att-{uuid.uuid4().hex[:6]}"
    env = stack.env(amqp_url, tag)
    processes.stop(stack.start(["attendance"], env, tag))  # declares its queues; they outlive it
    stack.running.clear()
    people = workload.cohort(PROGRAM, scale)
    total = workload.count_events(people)
    async with Upstream(amqp_url) as upstream, httpx.AsyncClient(timeout=5) as http:
        await upstream.listen(contract.COMPLETED)  # somewhere for its completions to go (publishes are mandatory)
        await upstream.publish_many(workload.events(PROGRAM, people), 256)
        service = stack.start(["attendance"], env, tag)[0]
        meter = stack.cpu_meter([service])
        spies = Profiles([service], RESULTS, f"{time.strftime('%Y%m%dT%H%M%S')}-alone") if profile else None
        first = None
        deadline = time.monotonic() + 120 + total / 100  # ten times slower than any machine seen
        while (done := await consumed(http, service)) < total:
            if first is None and done:
                first, before = (done, time.perf_counter()), meter.snapshot()
            if time.monotonic() > deadline:
                raise TimeoutError(f"attendance took in {done} of {total} events")
            await asyncio.sleep(0.25)  # each poll renders its /metrics: keep them rare
        elapsed = time.perf_counter() - first[1]
        cpu = meter.per_item_ms(before, meter.snapshot(), total - first[0])
    if spies:
        spies.stop()
        _print_hot(spies, [service])
    rss = service.peak_rss_mb()
    processes.stop([service])
    stack.running.clear()
    return (total - first[0]) / elapsed, cpu, rss


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49] * 1000, 1), "p95": round(q[94] * 1000, 1), "p99": round(q[98] * 1000, 1)}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["replay"]["samples"]
    fig, ax = plt.subplots(figsize=(10, 5))
    for key, label in (("published", "published by upstream"), ("attendance_done", "taken in by attendance"),
                       ("completed", "completed"), ("issued", "certificates issued")):  # fmt: skip
        xs = [s["t"] for s in samples][1:]
        rates = [(b[key] - a[key]) / (b["t"] - a["t"]) for a, b in zip(samples, samples[1:])]
        ax.plot(xs, rates, label=label)
    ax.set_xlabel("seconds since the first event")
    ax.set_ylabel("per second")
    ax.set_title(f"Year replay, scale {result['scale']}: {result['replay']['events']} events, "
                 f"{result['replay']['certificates']} certificates")  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main_async(args) -> dict:
    people_events = workload.count_events(workload.cohort(PROGRAM, 1))
    size = len(json.dumps(next(iter(workload.events(PROGRAM, workload.cohort(PROGRAM, 1))))[1]))
    result: dict = {"scale": args.scale, "at": dt.datetime.now(dt.UTC).isoformat(), "machine": _machine()}
    stages = set(args.stages.split(","))
    with (
        tempfile.TemporaryDirectory(prefix="humas-bench-") as tmp,
        Stack(Path(tmp)) as stack,
        fresh_vhost("bench") as amqp,
    ):
        if "bare" in stages:
            n_bare = min(args.bare_cap, people_events * args.scale)
            print(f"• bare broker round trip: {n_bare} messages of {size} bytes …")
            result["bare_broker_msgs_per_s"] = round(await bare_broker(amqp, n_bare, size, args.window), 1)
            print(f"• bare database: {n_bare} single-document upserts …")
            result["bare_db_upserts_per_s"] = round(await bare_database(stack.mongo.url, n_bare), 1)
            print("• bare renderer: 300 certificates, rendered and signed …")
            # In a thread, as the service does: pyHanko runs its own event loop.
            result["bare_renderer_pdfs_per_s"] = round(await asyncio.to_thread(bare_renderer, 300, stack.signing), 1)
            print("• bare credential: 200 certificates with and 200 without their Open Badges credential …")
            result["bare_credential"] = await asyncio.to_thread(
                bare_credential, 200, stack.signing, stack.root / "credential-keys"
            )
        if "replay" in stages:
            print(f"• the year, scale {args.scale} …")
            result["replay"] = await replay_year(stack, amqp, args)
        if "cert" in stages:
            print(f"• certificate stage, 1 and 2 processes, {args.cert_probe} completions each …")
            for instances in (1, 2):
                rate, cpu = await certificate_stage(
                    stack, amqp, args.cert_probe, instances, args.profile and instances == 1
                )
                result[f"cert_stage_{instances}_per_s"] = round(rate, 1)
                result[f"cert_stage_{instances}_cpu_ms_per_certificate"] = cpu
        if "attendance" in stages:
            print(f"• attendance stage alone: the year at scale {args.attendance_scale}, queued first …")
            rate, cpu, rss = await attendance_stage(stack, amqp, args.attendance_scale, args.profile)
            result["attendance_stage_per_s"], result["attendance_stage_cpu_ms_per_event"] = round(rate, 1), cpu
            result["attendance_stage_peak_rss_mb"] = round(rss, 1)
    return result


def _machine() -> dict:
    import os
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def _with_workers(service: str, alone: float, with_workers: float) -> str:
    return f"{service} {alone:.0f} MB" + (f" ({with_workers:.0f} with its workers)" if with_workers > alone + 1 else "")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def report(r: dict) -> list[tuple[str, str, str, str]]:
    """(measure, figures, ratio, target) for what this run measured."""
    replay, rows = r.get("replay"), []
    ingest, upserts, broker = (
        (replay or {}).get("attendance_events_per_s"),
        r.get("bare_db_upserts_per_s"),
        r.get("bare_broker_msgs_per_s"),
    )
    renderer, one, two = r.get("bare_renderer_pdfs_per_s"), r.get("cert_stage_1_per_s"), r.get("cert_stage_2_per_s")
    if alone := r.get("attendance_stage_per_s"):
        rows += [
            (
                "attendance alone (queue filled first) vs bare upserts",
                f"{alone:.0f}/s vs {upserts or 0:.0f}/s",
                _ratio(alone, upserts),
                "≥ 1.0×",
            )
        ]
    if replay:
        rows += [
            (
                "attendance ingest during the replay vs bare upserts",
                f"{ingest:.0f}/s vs {upserts or 0:.0f}/s",
                _ratio(ingest, upserts),
                "≥ 1.0×",
            ),
            (
                "ingest during the replay vs bare broker round trip",
                f"{ingest:.0f}/s vs {broker or 0:.0f}/s",
                _ratio(ingest, broker),
                "(limit)",
            ),
        ]
    if one:
        rows += [
            (
                "certificate stage (1 process) vs bare renderer",
                f"{one:.0f}/s vs {renderer or 0:.0f}/s",
                _ratio(one, renderer),
                "≥ 0.8×",
            ),
            ("2 certificate processes vs 1", f"{two:.0f}/s vs {one:.0f}/s", _ratio(two, one), "≥ 1.6×"),
        ]
    if replay:
        rows += [
            (
                "first event → last certificate",
                f"{replay['first_event_to_last_certificate_s']:.1f} s",
                "",
                "≤ 30 s (scale 1)",
            ),
            ("lost certificates", f"{replay['lost']} of {replay['expected_certificates']}", "", "0"),
            ("completed with other sessions than attended", str(replay["wrong_sessions"]), "", "0"),
            (
                "peak RSS per service",
                ", ".join(
                    _with_workers(k, v, replay.get("peak_rss_with_workers_mb", {}).get(k, v))
                    for k, v in replay["peak_rss_mb"].items()
                ),
                "",
                "< 300 MB",
            ),
            (
                "completed → issued latency",
                ", ".join(f"{k} {v:.0f} ms" for k, v in replay["latency_completed_to_issued_ms"].items()),
                "",
                "",
            ),
        ]
    return rows  # fmt: skip


def cpu_tables(r: dict) -> list[tuple[str, dict]]:
    tables = [(f"CPU ms per certificate, {n} process{'es' if n > 1 else ''}", r[f"cert_stage_{n}_cpu_ms_per_certificate"])
              for n in (1, 2) if f"cert_stage_{n}_cpu_ms_per_certificate" in r]  # fmt: skip
    if "replay" in r:
        tables.insert(0, ("CPU ms per event, year replay", r["replay"]["cpu_ms_per_event"]))
    if "attendance_stage_cpu_ms_per_event" in r:
        tables.append(("CPU ms per event, attendance alone", r["attendance_stage_cpu_ms_per_event"]))
        tables.append(("peak RSS MB, attendance alone", {"attendance": r["attendance_stage_peak_rss_mb"]}))
    return tables


def main() -> None:
    args = parse_args()
    result = asyncio.run(main_async(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}-scale{args.scale}.json").write_text(json.dumps(result, indent=2))
    if "replay" in result:
        plot(result, RESULTS / f"{stamp}-scale{args.scale}.png")
        print(
            f"\nscale {args.scale}: {result['replay']['participants']} participants, {result['replay']['events']} events"
        )
    rows = report(result)
    width = max((len(r[0]) for r in rows), default=0)
    for name, figures, ratio, target in rows:
        print(f"  {name:<{width}}  {figures:<34} {ratio:>6}  target {target}")
    for title, cpu in cpu_tables(result):
        print(f"  {title}: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    print(f"\nresults: {RESULTS / f'{stamp}-scale{args.scale}.json'}" + (" (+ .png)" if "replay" in result else ""))


if __name__ == "__main__":
    main()
