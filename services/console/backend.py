"""The three services' operator APIs, called with the console's key on behalf of the signed-in
person (X-Acting-Operator), and the dead-letter queues (counted passively, never consumed)."""

import contextlib
import logging

import aio_pika
import httpx

from ops.deadletters import CONSUMER_QUEUES, list_dead_letters
from shared.platform.auth import ACTING_HEADER, HEADER
from shared.platform.messaging import dead_letter_queue_name

from .settings import ConsoleSettings

log = logging.getLogger("console.backend")


class ServiceError(Exception):
    """A service answered with an error: its status and reason, shown to the operator."""

    def __init__(self, status: int, detail):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Backend:
    def __init__(self, settings: ConsoleSettings):
        self.settings = settings
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0), headers={HEADER: settings.console_api_key}
        )
        self.urls = {"enrollment": settings.enrollment_url.rstrip("/"), "attendance": settings.attendance_url.rstrip("/"),
                     "certificates": settings.certificates_url.rstrip("/")}  # fmt: skip
        self._amqp: aio_pika.abc.AbstractRobustConnection | None = None

    async def close(self) -> None:
        await self.http.aclose()
        if self._amqp is not None:
            with contextlib.suppress(Exception):
                await self._amqp.close()

    async def call(self, service: str, method: str, path: str, user: str, *, ok=(200, 202), **kwargs):
        """The JSON answer; a 4xx/5xx becomes ServiceError with the service's reason."""
        response = await self.http.request(method, self.urls[service] + path, headers={ACTING_HEADER: user}, **kwargs)
        body = _json(response)
        if response.status_code not in ok:
            # A roster import's 422 is a whole per-row report; other errors carry a `detail`.
            has_report = isinstance(body, dict) and "errors" in body
            raise ServiceError(response.status_code, body if has_report else body.get("detail", response.text[:500]))
        return body

    @contextlib.asynccontextmanager
    async def stream(self, service: str, path: str, user: str):
        async with self.http.stream("GET", self.urls[service] + path, headers={ACTING_HEADER: user}) as response:
            if response.status_code != 200:
                await response.aread()
                raise ServiceError(response.status_code, _json(response).get("detail", "export failed"))
            yield response

    async def dead_letter_counts(self) -> dict[str, int] | None:
        """Messages waiting per dead-letter queue (a passive declare: nothing is taken), or None
        when the console has no broker access or the broker is unreachable."""
        if not self.settings.amqp_url:
            return None
        try:
            if self._amqp is None or self._amqp.is_closed:
                self._amqp = await aio_pika.connect_robust(self.settings.amqp_url, timeout=5)
            counts = {}
            for queue in CONSUMER_QUEUES:
                channel = await self._amqp.channel()
                try:
                    declared = await channel.declare_queue(dead_letter_queue_name(queue), passive=True)
                    counts[queue] = declared.declaration_result.message_count or 0
                except aio_pika.exceptions.ChannelClosed:
                    counts[queue] = 0  # not declared yet: its service never started on this vhost
                finally:
                    if not channel.is_closed:
                        await channel.close()
            return counts
        except Exception as e:  # the dashboard still shows everything else
            log.warning("dead-letter count unavailable: %s", type(e).__name__)
            return None

    async def dead_letters(self):
        return await list_dead_letters(self.settings.amqp_url) if self.settings.amqp_url else None


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return {}
