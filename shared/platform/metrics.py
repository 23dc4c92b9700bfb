"""Prometheus metrics, one registry per service process (served at /metrics)."""

import contextlib
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, service: str):
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.consumed = Counter("humas_messages_consumed", "Messages handled, by queue and outcome",
                                ["service", "queue", "outcome"], **labels)  # fmt: skip
        self.published = Counter(
            "humas_events_published", "Events published (confirmed)", ["service", "routing_key"], **labels
        )
        self.processing = Histogram("humas_message_processing_seconds", "Time to handle one message",
                                    ["service", "queue"], **labels)  # fmt: skip
        self.certificates = Counter("humas_certificates_issued", "Certificates issued", ["service"], **labels)
        # Alert on kind="credentials": a rotated or wrong key stalls the work until someone fixes it.
        self.dependency_errors = Counter("humas_dependency_errors", "Failed calls to a dependency, by kind",
                                         ["service", "dependency", "kind"], **labels)  # fmt: skip
        self.service = service

    @contextlib.asynccontextmanager
    async def consuming(self, queue: str):
        """Counts a handled message as acked, or failed if the handler raises (then redelivered)."""
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.consumed.labels(self.service, queue, "failed").inc()
            raise
        self.consumed.labels(self.service, queue, "acked").inc()  # dead-lettered ones are acked too
        self.processing.labels(self.service, queue).observe(time.perf_counter() - started)

    def dead_lettered(self, queue: str) -> None:
        self.consumed.labels(self.service, queue, "dead_lettered").inc()

    def dependency_error(self, dependency: str, kind: str) -> None:
        self.dependency_errors.labels(self.service, dependency, kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
