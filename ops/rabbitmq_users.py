"""One RabbitMQ user per service, each allowed only what it does (least privilege).

A service may declare, bind, read and write the two exchanges of the contract and the
queues named after itself (`<service>.<routing key>` and their dead-letter queues), and
nothing else: the attendance service cannot read the certificate service's queue.
Upstream systems may only publish to `humas.events`. The operator role reads and
re-publishes dead letters. The admin account manages the broker.

On `humas.events` each login may also publish only the routing keys it produces
(`contract.PRODUCERS`, RabbitMQ topic permissions: "write" is matched against the routing key
of a publish) and bind its queues only to the keys it consumes ("read" is matched against the
binding key of a queue.bind): an upstream login cannot announce a completion or a certificate.

The same definitions serve compose (`definitions` writes the file RabbitMQ loads at boot,
from passwords in the environment) and the local run and tests (`import_into` loads them
into one vhost with `rabbitmqctl import_definitions`).

    python -m ops.rabbitmq_users definitions --vhost / --out /defs/definitions.json
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared import contract

SERVICES = ("enrollment", "attendance", "certificates")
_EXCHANGES = f"{re.escape(contract.EXCHANGE)}|{re.escape(contract.DEAD_LETTER_EXCHANGE)}"


@dataclass(frozen=True)
class Permission:
    configure: str
    write: str
    read: str


def _own(service: str) -> Permission:
    pattern = f"^({_EXCHANGES}|{re.escape(service)}\\..+)$"
    return Permission(pattern, pattern, pattern)


PERMISSIONS: dict[str, Permission] = {
    **{service: _own(service) for service in SERVICES},
    # No configure at all: configure is what exchange.delete needs, so with it an upstream login could
    # delete or retype humas.events. The exchanges exist from the definitions (or the services);
    # upstream systems declare passively, which needs no permission. Nothing to read, no queues.
    "upstream": Permission("^$", f"^{re.escape(contract.EXCHANGE)}$", "^$"),
    # ops/deadletters.py: reads the dead-letter queues, re-publishes to humas.events; configures nothing.
    "operator": Permission("^$", f"^({_EXCHANGES}|.+\\.dead-letter)$", f"^({_EXCHANGES}|.+\\.dead-letter)$"),
    "admin": Permission(".*", ".*", ".*"),
}
ROLES = tuple(PERMISSIONS)


def _keys(keys) -> str:
    return f"^({'|'.join(re.escape(k) for k in keys)})$" if keys else "^$"


def _produces(role: str) -> tuple[str, ...]:
    return tuple(key for key, roles in contract.PRODUCERS.items() if role in roles)


def _binds(service: str) -> tuple[str, ...]:
    """What its queues are bound to: what it consumes, and its own announcement log."""
    return (*contract.CONSUMES[service], *contract.ANNOUNCED.get(service, ()))


# Topic permissions on humas.events, (write, read). A login without any is unrestricted, so every
# role but admin has one.
TOPIC_PERMISSIONS: dict[str, tuple[str, str]] = {
    **{service: (_keys(_produces(service)), _keys(_binds(service))) for service in SERVICES},
    contract.UPSTREAM: (_keys(_produces(contract.UPSTREAM)), "^$"),
    # Replays re-publish a dead letter with its original routing key: any key a service consumes.
    contract.OPERATOR: (_keys(contract.REPLAYABLE), "^$"),
    "admin": (".*", ".*"),
}


def username(role: str, prefix: str = "humas") -> str:
    """Tests on a shared broker use their own prefix, so sessions never overwrite each other's."""
    return f"{prefix}-{role}"


def trusted(routing_key: str, prefix: str = "humas") -> str:
    """The logins a consumer believes for events of this routing key, as its setting wants them
    (e.g. COMPLETED_PUBLISHERS): the producers' and the operator's, whose dead-letter replays it sends."""
    return ",".join(username(role, prefix) for role in (*contract.PRODUCERS[routing_key], contract.OPERATOR))


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(passwords: dict[str, str], vhost: str = "/", prefix: str = "humas") -> dict:
    return {
        "users": [
            {
                "name": username(role, prefix),
                "password_hash": password_hash(passwords[role]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"] if role == "admin" else [],
            }
            for role in ROLES
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": username(role, prefix), "vhost": vhost, "configure": p.configure, "write": p.write, "read": p.read}
            for role, p in PERMISSIONS.items()
        ],
        "topic_permissions": [
            {
                "user": username(role, prefix),
                "vhost": vhost,
                "exchange": contract.EXCHANGE,
                "write": write,
                "read": read,
            }
            for role, (write, read) in TOPIC_PERMISSIONS.items()
        ],
        "exchanges": [
            {
                "name": name,
                "vhost": vhost,
                "type": kind,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name, kind in ((contract.EXCHANGE, "topic"), (contract.DEAD_LETTER_EXCHANGE, "direct"))
        ],
    }


def new_passwords() -> dict[str, str]:
    return {role: secrets.token_urlsafe(24) for role in ROLES}


def load_or_create_passwords(path: Path) -> dict[str, str]:
    """The local run keeps its generated passwords (mode 0600) so restarts reuse them."""
    if path.exists():
        return json.loads(path.read_text())
    passwords = new_passwords()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(passwords))
    return passwords


def import_into(vhost: str, passwords: dict[str, str], prefix: str = "humas") -> None:
    """Create or update the users and their permissions on `vhost` of the local broker."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(definitions(passwords, vhost, prefix), f)
        f.flush()
        os.chmod(f.name, 0o644)  # the broker's own user reads it
        subprocess.run(["rabbitmqctl", "-q", "import_definitions", f.name], check=True, capture_output=True, timeout=60)


def amqp_url(role: str, password: str, host: str, vhost: str, prefix: str = "humas") -> str:
    from urllib.parse import quote

    return f"amqp://{username(role, prefix)}:{quote(password, safe='')}@{host}/{quote(vhost, safe='')}"


def delete_users(prefix: str) -> None:
    for role in ROLES:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", username(role, prefix)], capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    out = sub.add_parser("definitions", help="write the definitions file, passwords from RABBITMQ_<ROLE>_PASSWORD")
    out.add_argument("--vhost", default="/")
    out.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    missing = [f"RABBITMQ_{r.upper()}_PASSWORD" for r in ROLES if not os.environ.get(f"RABBITMQ_{r.upper()}_PASSWORD")]
    if missing:
        parser.error("set " + ", ".join(missing))
    passwords = {role: os.environ[f"RABBITMQ_{role.upper()}_PASSWORD"] for role in ROLES}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(definitions(passwords, args.vhost), indent=1))
    args.out.chmod(0o644)
    print(f"wrote {args.out}: users {', '.join(username(r) for r in ROLES)}")


if __name__ == "__main__":
    main()
