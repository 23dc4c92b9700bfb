"""The enrollment service's settings (environment variables, shared ones in shared/platform/settings.py)."""

from shared.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    mongodb_database: str = "enrollment"
    http_port: int = 8001
