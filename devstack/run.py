"""README command 1: the whole system on this machine, with a short demo.

Starts what is missing (a MongoDB-wire server unless MONGODB_URL is set, an S3 server unless
S3_ENDPOINT is set, RabbitMQ if installed and down), then the three services, then the demo.
Stays up until Ctrl-C and stops everything it started. Data lives in .data/ and survives.
"""

import argparse
import asyncio
import datetime as dt
import os
import secrets
import signal
import time
from pathlib import Path

from ops import rabbitmq_users
from shared.contract.programs import Programs
from shared.platform import auth
from shared.platform.messaging import amqp_user
from shared.platform.settings import REPO_ROOT

from . import demo, processes, servers
from .rabbit import trust_settings, with_service_users

SERVICES = {"certificates": 8000, "enrollment": 8001, "attendance": 8002}
CONSOLE_PORT, CONSOLE_USER = 8003, "petugas"
# Fixed, so that SeaweedFS finds its volumes again after a restart.
LOCAL_S3_PORTS = {"master.port": 19333, "master.port.grpc": 29333, "volume.port": 18080, "volume.port.grpc": 28080,
                  "filer.port": 18888, "filer.port.grpc": 28888, "s3.port.grpc": 28333}  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-demo", action="store_true", help="run the services without the demo")
    parser.add_argument("--participants", type=int, default=demo.SEED_SIZE,
                        help=f"demo cohort size (default {demo.SEED_SIZE}, the real cohort's size and jenjang mix)")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data")
    parser.add_argument("--program", default="humas-level-up-2026")
    return parser.parse_args()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    # SIGTERM/SIGHUP (a closed terminal, `timeout`, a supervisor) stop everything too, like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    env = dict(os.environ)
    own_broker_users = "AMQP_URL" not in env  # a given AMQP_URL is used as it is, by every service
    env.setdefault("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    # A replayed year arrives in seconds: a short quiet time before completing the participants
    # who met the rule without attending every session (compose.yaml uses 300 s).
    env.setdefault("SETTLE_SECONDS", "5")
    started: list[servers.Server] = []
    running: list[processes.ServiceProcess] = []
    logs = args.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def stop_all(*_):
        processes.stop(running)
        for server in reversed(started):
            server.stop()

    try:
        print("• RabbitMQ:", env["AMQP_URL"].split("@")[-1])
        servers.ensure_rabbitmq(env["AMQP_URL"])
        amqp_urls = dict.fromkeys(SERVICES, env["AMQP_URL"])
        if own_broker_users:  # the same least-privilege users as compose.yaml
            passwords = rabbitmq_users.load_or_create_passwords(args.data_dir / "rabbitmq-users.json")
            amqp_urls = with_service_users(env["AMQP_URL"], passwords)
            for name, value in trust_settings().items():
                env.setdefault(name, value)
            print("• RabbitMQ users:", ", ".join(rabbitmq_users.username(r) for r in rabbitmq_users.ROLES),
                  f"(passwords in {args.data_dir / 'rabbitmq-users.json'})")  # fmt: skip
        else:  # one login for every service and the demo's upstream: it is the one believed
            env.setdefault("COMPLETED_PUBLISHERS", amqp_user(env["AMQP_URL"]))
        if "MONGODB_URL" not in env:
            mongo = servers.LocalMongo(args.data_dir / "mongodb", port=int(env.get("LOCAL_MONGODB_PORT", 27017)))
            if servers.port_open(mongo.port):
                raise SystemExit(f"port {mongo.port} is taken: set MONGODB_URL or LOCAL_MONGODB_PORT")
            mongo.start()
            started.append(mongo)
            env["MONGODB_URL"] = mongo.url
        print("• MongoDB:", env["MONGODB_URL"])
        if "S3_ENDPOINT" not in env:
            creds = servers.S3Credentials.load_or_create(args.data_dir / "s3-credentials.json")
            s3 = servers.LocalS3(args.data_dir / "s3", creds, port=int(env.get("LOCAL_S3_PORT", 8333)),
                                 internal_ports=LOCAL_S3_PORTS)  # fmt: skip
            s3.start()
            started.append(s3)
            env.update(S3_ENDPOINT=s3.endpoint, S3_ACCESS_KEY=creds.access_key, S3_SECRET_KEY=creds.secret_key)
            s3.make_bucket(env.setdefault("S3_BUCKET", "certificates"))
        print("• S3:", env["S3_ENDPOINT"], "bucket", env.get("S3_BUCKET", "certificates"))
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{SERVICES['certificates']}")
        api_key = _operator_key(env, args.data_dir)
        console_env = _console(env, args.data_dir)
        _signing_key(env, args.data_dir)
        _credential_keys(env, args.data_dir)
        running.extend(processes.start(name, port, {**env, "AMQP_URL": amqp_urls[name]}, logs)
                       for name, port in SERVICES.items())  # fmt: skip
        for service in running:
            processes.wait_ready(service)
            print(f"• {service.name} ready on {service.url} (log: {service.log})")
        if console_env is not None:  # the operator console, once the services it calls are up
            console = processes.start("console", CONSOLE_PORT, {**env, **console_env, "AMQP_URL": amqp_urls.get(
                "operator", env["AMQP_URL"])}, logs)  # fmt: skip
            running.append(console)
            processes.wait_ready(console)
            print(f"• console ready on {console.url}/console/ (log: {console.log})")
        urls = {s.name: s.url for s in running}
        if not args.no_demo and not api_key:
            print("• demo skipped: OPERATOR_API_KEYS is set, so give the demo a key with OPERATOR_API_KEY")
        elif not args.no_demo:
            program = Programs.load(REPO_ROOT / "deploy" / "programs").get(args.program)
            services = demo.Services(urls["enrollment"], urls["attendance"], urls["certificates"], api_key or "")
            upstream_url = amqp_urls.get("upstream", env["AMQP_URL"])  # publishes as an upstream system would
            result = asyncio.run(demo.run_demo(upstream_url, services, program, args.participants))
            demo.print_summary(result, program)
            for row in list(result["issued"].values())[:3]:
                code = row["verify_url"].rsplit("/", 1)[1]
                print(
                    f"  {row['nomor']}  PDF {urls['certificates']}/certificates/{code}.pdf\n{'':>25}verify: {row['verify_url']}"
                )
        if api_key:
            print(f"\nOperator API key (stored in {args.data_dir / 'operator-api-key'}):\n  {api_key}")
            print(f"  curl -H 'X-API-Key: {api_key}' '{urls['attendance']}/api/attendance/{args.program}/summary'")
        print(f"OpenAPI pages: {urls['enrollment']}/docs  {urls['attendance']}/docs  {urls['certificates']}/docs")
        if console_env is not None and not env.get("CONSOLE_USERS"):
            print(f"\nOperator console: {urls['console']}/console/\n  sign in as {CONSOLE_USER} with "
                  f"{(args.data_dir / 'console-password').read_text().strip()}  (stored in {args.data_dir / 'console-password'})")  # fmt: skip
        print("\nRunning. Ctrl-C stops everything this command started.")
        while all(s.process.poll() is None for s in running):
            time.sleep(1)
        raise SystemExit("a service stopped unexpectedly; see the logs in " + str(logs))
    except KeyboardInterrupt:
        print("\nstopping …")
    finally:
        stop_all()


def _operator_key(env: dict, data_dir: Path) -> str | None:
    """A local operator key on first start (only its hash goes to the services)."""
    if env.get("OPERATOR_API_KEYS"):
        return env.get("OPERATOR_API_KEY")  # the operator configured their own
    path = data_dir / "operator-api-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(auth.new_key())
    key = path.read_text().strip()
    env["OPERATOR_API_KEYS"] = f"local-operator:{auth.hash_key(key)}"
    return key


def _console(env: dict, data_dir: Path) -> dict | None:
    """The console's settings: a local sign-in (password kept in .data/, only its argon2 hash
    configured) and the console's own API key, which the services let act for that person."""
    from services.console.security import hash_password

    local_keys = env.get("OPERATOR_API_KEYS", "").startswith("local-operator:")  # made by _operator_key
    if not local_keys and not env.get("CONSOLE_API_KEY"):
        print("• console skipped: OPERATOR_API_KEYS is set, so give it a key with CONSOLE_API_KEY")
        return None
    keys = {}
    for name, make in (("console-password", lambda: secrets.token_urlsafe(12)), ("console-api-key", auth.new_key)):
        path = data_dir / name
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(make())
        keys[name] = path.read_text().strip()
    key = env.get("CONSOLE_API_KEY") or keys["console-api-key"]
    if not env.get("CONSOLE_API_KEY"):
        env["OPERATOR_API_KEYS"] += f",console:{auth.hash_key(key)}"
    env.setdefault("OPERATOR_DELEGATES", "console")
    return {"CONSOLE_API_KEY": key, "CONSOLE_USERS": env.get("CONSOLE_USERS") or
            f"{CONSOLE_USER}:{hash_password(keys['console-password'])}",
            "ENROLLMENT_URL": f"http://127.0.0.1:{SERVICES['enrollment']}",
            "ATTENDANCE_URL": f"http://127.0.0.1:{SERVICES['attendance']}",
            "CERTIFICATES_URL": f"http://127.0.0.1:{SERVICES['certificates']}"}  # fmt: skip


def _signing_key(env: dict, data_dir: Path) -> None:
    """A self-signed PAdES key on first start, unless SIGNING_PKCS12_PATH names a real one."""
    if env.get("SIGNING_PKCS12_PATH"):
        return
    from devstack.keys import make_self_signed

    path, secret = data_dir / "signing.p12", data_dir / "signing-passphrase"
    if not path.exists():
        secret.touch(mode=0o600)
        secret.write_text(secrets.token_urlsafe(24))
        make_self_signed(path, secret.read_text())
        print(f"• made a self-signed signing key: {path} (for trials only; configure the bureau's real one)")
    env.update(SIGNING_PKCS12_PATH=str(path), SIGNING_PKCS12_PASSPHRASE=secret.read_text())


def _credential_keys(env: dict, data_dir: Path) -> None:
    """An Open Badges credential key on first start, unless CREDENTIAL_KEYS_DIR names real ones."""
    if env.get("CREDENTIAL_KEYS_DIR"):
        return
    from devstack.keys import make_key

    directory = data_dir / "credential-keys"
    if not any(directory.glob("*.pem")):
        make_key(directory / f"{dt.date.today().isoformat()}.pem")
        print(f"• made an Open Badges credential key in {directory} (rotate: add a newer *.pem beside it)")
    env.update(CREDENTIAL_KEYS_DIR=str(directory))


if __name__ == "__main__":
    main()
