"""The console's settings, read from the environment (names in UPPER_CASE)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform.settings import REPO_ROOT


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = 8003
    log_level: str = "info"
    programs_dir: Path = REPO_ROOT / "deploy" / "programs"
    forwarded_allow_ips: str = "127.0.0.1"
    # Operators who sign in: `name:argon2hash` pairs, comma-separated (python -m ops.console_users new <name>).
    console_users: str = ""
    # The console's own operator API key; the services must list its name in OPERATOR_DELEGATES.
    console_api_key: str = ""
    enrollment_url: str = "http://127.0.0.1:8001"
    attendance_url: str = "http://127.0.0.1:8002"
    certificates_url: str = "http://127.0.0.1:8000"
    # The RabbitMQ operator user (reads dead-letter queues); empty: dead letters are not shown.
    amqp_url: str = ""
    # Secure cookies always (behind TLS); otherwise only when the request came over HTTPS.
    console_secure_cookies: bool = False
    console_session_idle_minutes: int = Field(default=30, ge=1)
    console_session_max_hours: int = Field(default=10, ge=1)
    # Failed sign-ins allowed per client address and user name, per client address, and per user
    # name from any address (one account guessed from many addresses).
    console_login_rate_limit: str = "5/minute"
    console_login_rate_limit_address: str = "20/minute"
    console_login_rate_limit_account: str = "20/10 minutes"
    console_poll_seconds: int = Field(default=5, ge=1)
