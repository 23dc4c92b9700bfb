"""Operator API keys: only their SHA-256 is stored, and comparison takes constant time.

`OPERATOR_API_KEYS` holds `name:sha256hex` pairs separated by commas (`python -m ops.api_keys
new <name>` makes a key and prints its pair). Keys are 256-bit random tokens, so one round of
SHA-256 is enough (no password stretching needed: there is nothing to guess). The operator's
name is what revocation and re-issue history record as "who".

A key named in `OPERATOR_DELEGATES` (the console's) may say which signed-in person acts, in
`X-Acting-Operator`; history then records `<key name>:<person>` ("console:siti"): the person's
own name, qualified by where they signed in, and ':' is the one character `ops.api_keys` never
puts in a key's name and `OperatorKeys.parse` refuses in one, so a console user can never pass for
the holder of an API key, nor a key for a console user. Any other
key sending the header is refused (403): only a service that authenticates its own users may
speak for them.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from fastapi import Header, HTTPException, Security
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
ACTING_HEADER = "X-Acting-Operator"
PREFIX = "hlu_"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # operator and console user names
# API key names: what `ops.api_keys` accepts ('@' too, for keys already issued to an address), and
# never ':', which would let a key named "console:siti" pass for a console user in history.
KEY_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class OperatorKeys:
    hashes: tuple[tuple[str, str], ...]  # (operator name, sha256 hex)
    delegates: frozenset[str] = frozenset()  # key names that may act for a named person

    @classmethod
    def parse(cls, spec: str, delegates: str = "") -> "OperatorKeys":
        pairs = []
        for number, item in enumerate(filter(None, (part.strip() for part in spec.split(","))), 1):
            name, sep, digest = item.rpartition(":")
            if not sep or not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("OPERATOR_API_KEYS: expected name:sha256hex pairs separated by commas")
            if not KEY_NAME.fullmatch(name):  # the entry's number, not its name: names stay out of logs
                raise ValueError(f"OPERATOR_API_KEYS: entry {number}: a key's name is 1-64 letters, digits or . _ @ -")
            pairs.append((name, digest))
        return cls(tuple(pairs), frozenset(filter(None, (d.strip() for d in delegates.split(",")))))

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

    async def operator(
        key: str | None = Security(scheme),
        acting: str | None = Header(None, alias=ACTING_HEADER, include_in_schema=False),
    ) -> str:
        if not keys.hashes:
            raise HTTPException(503, "operator API disabled: no OPERATOR_API_KEYS configured")
        name = keys.identify(key) if key else None
        if name is None:
            raise HTTPException(
                401, f"missing or unknown API key (header {HEADER})", headers={"WWW-Authenticate": HEADER}
            )
        if acting is None:
            return name
        if name not in keys.delegates:
            raise HTTPException(403, f"this API key may not act for others ({ACTING_HEADER})")
        if not NAME.fullmatch(acting):
            raise HTTPException(400, f"{ACTING_HEADER}: 1-64 letters, digits or . _ -")
        return f"{name}:{acting}"

    return operator
