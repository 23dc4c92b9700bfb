"""The certificate service's settings (environment variables, shared ones in shared/platform/settings.py)."""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform.settings import ServiceSettings


class S3Settings(BaseSettings):
    """Where the certificates' PDFs and credentials are stored (MinIO in compose, SeaweedFS locally)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "certificates"
    s3_region: str = "us-east-1"

    @property
    def s3_host(self) -> str:
        parts = urlsplit(self.s3_endpoint if "://" in self.s3_endpoint else f"http://{self.s3_endpoint}")
        return parts.netloc

    @property
    def s3_secure(self) -> bool:
        return self.s3_endpoint.startswith("https://")


class Settings(ServiceSettings, S3Settings):
    mongodb_database: str = "certificates"
    http_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Per client address and replica, on the public PDF and verification routes.
    public_rate_limit: str = "120/minute"
    # PAdES signing key (PKCS#12); unset: certificates are not signed.
    signing_pkcs12_path: Path | None = None
    signing_pkcs12_passphrase: str = ""
    # Open Badges 3.0 credential keys: a directory of RSA keys in PEM (the last by name signs, all
    # are published). Unset: no credentials are issued.
    credential_keys_dir: Path | None = None
    # Processes that render and sign (render_pool.py); 0: worker threads of this process instead.
    render_workers: int = Field(default=1, ge=0, le=16)
    # A render not back within this (queued behind the others included) is taken as hung: its
    # worker is killed, and the renders that were with it run again one by one (render_pool.py).
    render_timeout_s: float = Field(default=120.0, gt=0)
