"""A RabbitMQ vhost of one's own (tests, benchmark): the contract's names, no collisions."""

import contextlib
import os
import subprocess
import uuid

AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "127.0.0.1:5672")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def fresh_vhost(prefix: str = "test"):
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def with_service_users(amqp_url: str, passwords: dict[str, str], prefix: str = "humas") -> dict[str, str]:
    """Create the per-service users on the vhost of `amqp_url`; return each role's own URL."""
    from urllib.parse import unquote, urlparse

    from ops import rabbitmq_users

    parsed = urlparse(amqp_url)
    vhost = unquote(parsed.path[1:]) or "/"
    rabbitmq_users.import_into(vhost, passwords, prefix)
    host = parsed.netloc.rsplit("@", 1)[-1]
    return {role: rabbitmq_users.amqp_url(role, pw, host, vhost, prefix) for role, pw in passwords.items()}


def trust_settings(prefix: str = "humas") -> dict[str, str]:
    """The services' settings naming whom they believe, for users made by `with_service_users`."""
    from ops import rabbitmq_users
    from shared import contract

    return {"COMPLETED_PUBLISHERS": rabbitmq_users.trusted(contract.COMPLETED, prefix)}
