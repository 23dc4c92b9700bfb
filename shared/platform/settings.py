"""One typed settings object per service, read from the environment (names in UPPER_CASE)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = ""  # each service supplies its own default
    programs_dir: Path = REPO_ROOT / "deploy" / "programs"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "info"
    # Unacked messages in flight per consumer: bounds memory and redelivery on a crash.
    prefetch: int = Field(default=32, ge=1, le=1000)
    # Attempts of a message whose handling raises an unexpected error before RabbitMQ
    # dead-letters it (quorum queue x-delivery-limit). Transient outages don't count: those
    # are retried in place with back-off.
    delivery_limit: int = Field(default=5, ge=1)
    outbox_interval_s: float = Field(default=2.0, gt=0)
    # How far an event's `time` may run ahead of this service's clock (clocks differ a little);
    # an event dated further ahead is dead-lettered (shared/contract/ordering.py).
    max_clock_skew_s: float = Field(default=300.0, ge=0)
    # A dependency still unreachable after this long at start-up ends the process (the supervisor
    # restarts it); once running, outages are waited out indefinitely.
    startup_timeout_s: float = Field(default=120.0, gt=0)
    # Operators' API keys as `name:sha256hex` pairs, comma-separated (shared/platform/auth.py).
    operator_api_keys: str = ""
    # Key names that may act for a signed-in person (X-Acting-Operator): the console's (shared/platform/auth.py).
    operator_delegates: str = ""
    # RabbitMQ logins whose `completed` events are believed (the AMQP user_id, which the broker
    # checks): the attendance service's and the operator's dead-letter replays. Comma-separated;
    # tests and local runs with other user names set it. Never `guest` in a deployment.
    completed_publishers: str = "humas-attendance,humas-operator"
    # Proxies whose X-Forwarded-For is believed (uvicorn): the compose gateway, or a local one.
    forwarded_allow_ips: str = "127.0.0.1"


def names(value: str) -> frozenset[str]:
    """A comma-separated setting as a set of names."""
    return frozenset(name.strip() for name in value.split(",") if name.strip())
