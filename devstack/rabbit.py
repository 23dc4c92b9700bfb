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
