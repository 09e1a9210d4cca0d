"""Authentication: bearer API keys resolved to a `Principal` by a `KeyStore`.

Routes only see a `Principal`; where keys live (settings today, hashed rows in Postgres
later) is the key store's business.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Protocol

READ: Final = "tasks:read"
WRITE: Final = "tasks:write"
ALL_SCOPES: Final = frozenset({READ, WRITE})
DEFAULT_TENANT: Final = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant, what they may do, and which key they used."""

    tenant: str
    scopes: frozenset[str]
    key_id: str

    def can(self, scope: str) -> bool:
        """True if the principal holds `scope`."""
        return scope in self.scopes


class KeyStore(Protocol):
    """Resolves a presented API key to its principal."""

    async def lookup(self, key: str) -> Principal | None:
        """The principal of `key`, or None if the key is unknown or revoked."""
        ...


def key_digest(key: str) -> bytes:
    """SHA-256 of a key: what is compared (and, later, stored) instead of the key."""
    return hashlib.sha256(key.encode()).digest()


def key_id_of(key: str) -> str:
    """A short public id of a key, safe to log."""
    return "static:" + key_digest(key).hex()[:12]


class StaticKeyStore:
    """Keys from settings (`TASKSTREAM_API_KEYS`): tenant `default`, every scope."""

    def __init__(self, keys: list[str], *, tenant: str = DEFAULT_TENANT) -> None:
        self._entries = [
            (key_digest(k), Principal(tenant, ALL_SCOPES, key_id_of(k))) for k in keys if k
        ]

    @classmethod
    def from_setting(cls, value: str) -> StaticKeyStore:
        """Parse the comma-separated setting."""
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def __len__(self) -> int:
        return len(self._entries)

    async def lookup(self, key: str) -> Principal | None:
        """Compare against every key in constant time (no early exit on a match)."""
        presented = key_digest(key)
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(presented, digest):
                found = principal
        return found
