"""HTTP concerns every service shares: bounded request bodies, security headers, rate limits."""

import math
import time

from fastapi import FastAPI, HTTPException, Request
from limits import parse, storage, strategies

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def add_security_headers(app: FastAPI) -> None:
    """On every response; HTML pages of our own set their Content-Security-Policy themselves
    (the OpenAPI pages load Swagger UI's scripts, which a strict global policy would break)."""

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in BASE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


class HeadAsGet:
    """HEAD on every GET route: GET's status and headers, no body (RFC 9110 9.3.2). FastAPI routes
    answer only the methods they declare, so link checkers and `curl -I` got 405. The body is
    dropped here, not only by uvicorn, so any server (and the tests' in-process client) agrees."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds `limit` (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def known_program(programs):
    """A FastAPI dependency for routes with `{program_id}` in the path: the Program, or 404."""

    def program(program_id: str):
        if program_id not in programs:
            raise HTTPException(404, f"unknown program {program_id!r}")
        return programs.get(program_id)

    return program


class RateLimit:
    """Per client address, moving window, in this process (each replica counts its own; the
    gateway is the place for a global limit). Over the limit: 429 with Retry-After.

    The client address is the connection's, or X-Forwarded-For's when uvicorn trusts the proxy
    (FORWARDED_ALLOW_IPS), so the gateway does not make every visitor one client.
    """

    def __init__(self, rate: str, scope: str):
        self._item = parse(rate)
        self._scope = scope
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    async def __call__(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self._limiter.hit(self._item, self._scope, client):
            reset, _ = self._limiter.get_window_stats(self._item, self._scope, client)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise HTTPException(
                429, f"too many requests: limit {self._item}", headers={"Retry-After": str(retry_after)}
            )
