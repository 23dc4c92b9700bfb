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

from shared.platform.auth import NAME

HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_PAIRS = re.compile(r",(?=\s*[A-Za-z0-9._-]{1,64}:\$argon2)")


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
    """In memory, bounded. Anonymous sessions (the sign-in page's, made for anyone who asks) and
    signed-in ones are kept apart with a cap each, so a flood of anonymous visits only ever evicts
    anonymous sessions, never an operator's. Each pool is ordered by last use, so expired and
    evicted sessions are taken from the front without scanning the rest."""

    MAX_ANONYMOUS = 10_000
    MAX_SIGNED_IN = 1_000  # reached only with valid passwords; then the least recently used goes

    def __init__(self, idle_seconds: float, max_seconds: float):
        self.idle, self.max = idle_seconds, max_seconds
        self._anonymous: dict[str, Session] = {}
        self._signed_in: dict[str, Session] = {}

    def _pool(self, session: Session) -> dict[str, Session]:
        return self._signed_in if session.user else self._anonymous

    def new(self, user: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user)
        pool = self._pool(session)
        self._prune(pool, self.MAX_SIGNED_IN if user else self.MAX_ANONYMOUS)
        pool[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        key = session_id or ""
        session = self._signed_in.get(key) or self._anonymous.get(key)
        if session is None:
            return None
        pool = self._pool(session)
        if self._expired(session, time.monotonic()):
            del pool[session.id]
            return None
        session.seen = time.monotonic()
        pool[session.id] = pool.pop(session.id)  # to the back: the pool stays ordered by last use
        return session

    def end(self, session: Session) -> None:
        self._signed_in.pop(session.id, None)
        self._anonymous.pop(session.id, None)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.seen > self.idle or now - session.created > self.max

    def _prune(self, pool: dict[str, Session], cap: int) -> None:
        # A session expired by its maximum age behind the front is dropped when next used.
        now = time.monotonic()
        while pool and (len(pool) >= cap or self._expired(next(iter(pool.values())), now)):
            del pool[next(iter(pool))]


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return session is not None and token is not None and secrets.compare_digest(session.csrf, token)


class LoginLimit:
    """Failed sign-ins per (address, name), per address, and per name from any address (one
    account guessed from many addresses), moving window. Only failures count, so an operator who
    types the password right is never held back by the limit unless their own name is under attack."""

    def __init__(self, per_name: str, per_address: str, per_account: str):
        self._limits = [
            (parse(per_name), lambda address, name: ("console-login", address, name)),
            (parse(per_address), lambda address, name: ("console-login-address", address)),
            (parse(per_account), lambda address, name: ("console-login-name", name)),
        ]
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def _keys(self, address: str, name: str):
        for item, key in self._limits:
            yield item, key(address, name.casefold())

    def retry_after(self, address: str, name: str) -> int | None:
        """Seconds to wait when over a limit (the longest wait of those exceeded), else None."""
        waits = []
        for item, key in self._keys(address, name):
            if not self._limiter.test(item, *key):
                reset, _ = self._limiter.get_window_stats(item, *key)
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits, default=None)

    def failed(self, address: str, name: str) -> None:
        for item, key in self._keys(address, name):
            self._limiter.hit(item, *key)
