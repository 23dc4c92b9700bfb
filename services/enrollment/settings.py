"""The enrollment service's settings (environment variables, shared ones in shared/settings.py)."""

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    mongodb_database: str = "enrollment"
    http_port: int = 8001
