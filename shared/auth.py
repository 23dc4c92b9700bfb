"""Operator API keys: only their SHA-256 is stored, and comparison takes constant time.

`OPERATOR_API_KEYS` holds `name:sha256hex` pairs separated by commas (`python -m ops.api_keys
new <name>` makes a key and prints its pair). Keys are 256-bit random tokens, so one round of
SHA-256 is enough (no password stretching needed: there is nothing to guess). The operator's
name is what revocation and re-issue history record as "who".
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
PREFIX = "hlu_"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class OperatorKeys:
    hashes: tuple[tuple[str, str], ...]  # (operator name, sha256 hex)

    @classmethod
    def parse(cls, spec: str) -> "OperatorKeys":
        pairs = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, digest = item.rpartition(":")
            if not sep or not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("OPERATOR_API_KEYS: expected name:sha256hex pairs separated by commas")
            pairs.append((name, digest))
        return cls(tuple(pairs))

    def identify(self, key: str) -> str | None:
        """The operator whose key this is. Every stored hash is compared, match or not."""
        digest = hash_key(key).encode()
        found = None
        for name, stored in self.hashes:
            if hmac.compare_digest(digest, stored.encode()):
                found = name
        return found


def operator_dependency(keys: OperatorKeys):
    """A FastAPI dependency: the calling operator's name, or 401 (503 when none is configured)."""
    scheme = APIKeyHeader(name=HEADER, auto_error=False, description="An operator API key")

    async def operator(key: str | None = Security(scheme)) -> str:
        if not keys.hashes:
            raise HTTPException(503, "operator API disabled: no OPERATOR_API_KEYS configured")
        name = keys.identify(key) if key else None
        if name is None:
            raise HTTPException(401, f"missing or unknown API key (header {HEADER})", headers={"WWW-Authenticate": HEADER})
        return name

    return operator
