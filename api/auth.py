"""Authentication: bearer API keys resolved to a `Principal` by a `KeyStore`.

Routes only see a `Principal`; where keys live (hashed rows in Postgres, or the static
development keys from settings) is the key store's business. Keys, tenants and scopes:
docs/auth.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

READ: Final = "tasks:read"
WRITE: Final = "tasks:write"
ADMIN: Final = "admin"
ALL_SCOPES: Final = frozenset({READ, WRITE, ADMIN})
DEFAULT_TENANT: Final = "default"
TENANT_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT = re.compile(TENANT_PATTERN)


class AuthInputError(ValueError):
    """A tenant name or a scope list that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant, what they may do, and which key they used."""

    tenant: str
    scopes: frozenset[str]
    key_id: str

    def can(self, scope: str) -> bool:
        """True if the principal holds `scope` (scopes are independent: none implies another)."""
        return scope in self.scopes


class KeyStore(Protocol):
    """Resolves a presented API key to its principal."""

    async def lookup(self, key: str) -> Principal | None:
        """The principal of `key`, or None if the key is unknown or revoked."""
        ...


def parse_scopes(value: str | Iterable[str]) -> frozenset[str]:
    """Scopes from `tasks:read,tasks:write` (or a list); AuthInputError names unknown ones."""
    items = value.split(",") if isinstance(value, str) else list(value)
    scopes = [s.strip() for s in items if s.strip()]
    if not scopes:
        raise AuthInputError(f"give at least one scope of {sorted(ALL_SCOPES)}")
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown:
        raise AuthInputError(f"unknown scopes {unknown}; known: {sorted(ALL_SCOPES)}")
    return frozenset(scopes)


def check_tenant(tenant: str) -> str:
    """`tenant` if it is a valid tenant name (AuthInputError otherwise)."""
    if not _TENANT.fullmatch(tenant):
        raise AuthInputError(
            f"tenant {tenant!r} is not valid: 1-63 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return tenant


def key_digest(key: str) -> bytes:
    """SHA-256 of a key or secret: what is compared and stored instead of the key."""
    return hashlib.sha256(key.encode()).digest()


def key_id_of(key: str) -> str:
    """A short public id of a static key, safe to log."""
    return "static:" + key_digest(key).hex()[:12]


class StaticKeyStore:
    """Keys from settings (`TASKSTREAM_API_KEYS`): tenant `default`, every scope.

    Meant for development bootstrap (the dev stack's key) and for creating the first
    Postgres keys; production keys live in Postgres (`taskstream keys create`).
    """

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


class ChainedKeyStore:
    """Asks each store in turn; the first that knows the key answers."""

    def __init__(self, *stores: KeyStore) -> None:
        self._stores = stores

    async def lookup(self, key: str) -> Principal | None:
        """The principal from the first store that resolves `key`."""
        for store in self._stores:
            found = await store.lookup(key)
            if found is not None:
                return found
        return None
