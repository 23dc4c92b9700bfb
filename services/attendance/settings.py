"""The attendance service's settings (environment variables, shared ones in shared/platform/settings.py)."""

from pydantic import Field, model_validator

from shared.platform.inflight import MARGIN_S
from shared.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    mongodb_database: str = "attendance"
    http_port: int = 8002
    # Quiet time after a participant's last report before a closed program completes them.
    settle_seconds: float = Field(default=30.0, ge=0)
    # Attendance reports written per bulk write (at most `prefetch` are in flight at once).
    batch_size: int = Field(default=64, ge=1, le=1000)
    prefetch: int = Field(default=128, ge=1, le=1000)
    # Completion waits while a replica may hold reports not yet written (shared/platform/inflight.py): one
    # whose heartbeat is this old may be slow; one whose heartbeat is older than the expiry is dead,
    # and the broker has put back what it held (it drops a silent peer after its AMQP heartbeat
    # timeout, 60 s by default). A replica killed outright delays completions up to the expiry.
    replica_silence_s: float = Field(default=15.0, gt=0)
    replica_expiry_s: float = Field(default=90.0, gt=0)
    # Unique per running replica, the same when it restarts in its place (default: host:http_port).
    replica_id: str = ""

    @model_validator(mode="after")
    def _replica_times(self) -> "Settings":
        if self.replica_silence_s <= self.outbox_interval_s + MARGIN_S:
            raise ValueError("replica_silence_s must exceed outbox_interval_s + 1 s: heartbeats come once a sweep")
        if self.replica_expiry_s <= self.replica_silence_s:
            raise ValueError("replica_expiry_s must exceed replica_silence_s")
        return self
