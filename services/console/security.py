"""Who may use the console: named operators with argon2 password hashes, sessions held in this
process's memory, a CSRF token per session, and a limit on failed sign-ins.

Sessions live in memory: the console runs as one replica (compose.yaml), and a restart only
signs everyone out. A second replica would need a shared store (or sticky sessions).
"""

import math
import re
import secrets
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import parse, storage, strategies

from shared.auth import NAME

HASHER = PasswordHasher()
_PAIRS = re.compile(r",(?=\s*[A-Za-z0-9._-]{1,64}:\$argon2)")  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return HASHER.hash(password)


class Users:
    """`CONSOLE_USERS`: `name:argon2hash` pairs separated by commas. An argon2 hash has commas of
    its own (`m=65536,t=3,p=4`), so a pair ends only where the next `name:$argon2` begins."""

    def __init__(self, spec: str):
        self._hashes: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in _PAIRS.split(spec))):
            name, sep, digest = item.partition(":")
            if not sep or not NAME.fullmatch(name) or not digest.startswith("$argon2"):
                raise ValueError("CONSOLE_USERS: expected name:argon2hash pairs separated by commas")
            self._hashes[name] = digest
        # Unknown names are checked against a hash too, so the time taken does not tell who exists.
        self._decoy = HASHER.hash(secrets.token_urlsafe(16))

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def check(self, name: str, password: str) -> bool:
        """Slow on purpose (argon2): run it in a worker thread."""
        stored = self._hashes.get(name)
        try:
            return HASHER.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


@dataclass
class Session:
    id: str
    csrf: str
    user: str | None = None
    created: float = field(default_factory=lambda: time.monotonic())
    seen: float = field(default_factory=lambda: time.monotonic())
    # A roster file checked by a dry run, waiting for the operator's "import" (never written to disk).
    pending_upload: tuple[str, bytes, str] | None = None  # (token, content, content type)
    flash: str | None = None


class Sessions:
    """In memory, bounded: expired sessions are dropped as new ones are made."""

    MAX = 10_000

    def __init__(self, idle_seconds: float, max_seconds: float):
        self.idle, self.max = idle_seconds, max_seconds
        self._by_id: dict[str, Session] = {}

    def new(self, user: str | None = None) -> Session:
        self._prune()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self.idle or now - session.created > self.max:
            del self._by_id[session.id]
            return None
        session.seen = now
        return session

    def end(self, session: Session) -> None:
        self._by_id.pop(session.id, None)

    def _prune(self) -> None:
        now = time.monotonic()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > self.idle or now - s.created > self.max:
                del self._by_id[sid]
        while len(self._by_id) >= self.MAX:  # a flood of anonymous visits: the oldest go first
            del self._by_id[next(iter(self._by_id))]


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return session is not None and token is not None and secrets.compare_digest(session.csrf, token)


class LoginLimit:
    """Failed sign-ins per (address, name) and per address, moving window. Only failures count,
    so an operator who types the password right is never held back by the limit."""

    def __init__(self, per_name: str, per_address: str):
        self._limits = [(parse(per_name), True), (parse(per_address), False)]
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def _keys(self, address: str, name: str):
        for item, with_name in self._limits:
            yield item, ("console-login", address, name.casefold()) if with_name else ("console-login", address)

    def retry_after(self, address: str, name: str) -> int | None:
        """Seconds to wait when over the limit, else None."""
        for item, key in self._keys(address, name):
            if not self._limiter.test(item, *key):
                reset, _ = self._limiter.get_window_stats(item, *key)
                return max(1, math.ceil(reset - time.time()))
        return None

    def failed(self, address: str, name: str) -> None:
        for item, key in self._keys(address, name):
            self._limiter.hit(item, *key)
