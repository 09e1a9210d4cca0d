"""API keys in Postgres: the repository (create, list, revoke) and the cached `PgKeyStore`.

A lookup is one primary-key probe, cached per key id for `api_key_cache_seconds` (hits
and misses alike), so a revocation takes effect within that time on every API process.
Uses are remembered in memory and written to `last_used_at` in one statement every
`api_key_last_used_flush_seconds`, never on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from api.apikeys import format_key, new_key, parse_key
from api.auth import Principal, check_tenant, key_digest, parse_scopes
from projections.read import decode_cursor, encode_cursor

log = logging.getLogger(__name__)

_COLUMNS = "id, tenant, scopes, name, description, created_at, revoked_at, last_used_at"


def key_row(row: asyncpg.Record) -> dict[str, Any]:
    """A key's public fields (never its digest)."""
    return {
        "id": row["id"],
        "tenant": row["tenant"],
        "scopes": sorted(row["scopes"]),
        "name": row["name"],
        "description": row["description"],
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
        "last_used_at": row["last_used_at"],
    }


class KeyRepo:
    """The `api_keys` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, tenant: str, scopes: str | list[str], *, name: str = "", description: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new key (AuthInputError on a bad tenant or scope): its row and the key, once."""
        check_tenant(tenant)
        granted = sorted(parse_scopes(scopes))
        fresh = new_key()
        row = await self._pool.fetchrow(
            f"INSERT INTO api_keys (id, secret_sha256, tenant, scopes, name, description)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            fresh.key_id,
            key_digest(fresh.secret),
            tenant,
            granted,
            name,
            description,
        )
        assert row is not None
        return key_row(row), format_key(fresh.key_id, fresh.secret)

    async def list(
        self, tenant: str | None, *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Keys newest first (of one tenant, or all), and the next page's cursor."""
        after = decode_cursor(cursor) if cursor else None
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM api_keys"
            " WHERE ($1::text IS NULL OR tenant = $1)"
            " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))"
            " ORDER BY created_at DESC, id DESC LIMIT $4",
            tenant,
            after[0] if after else None,
            after[1] if after else "",
            limit + 1,
        )
        items = [key_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items else None
        return items, encode_cursor(last["created_at"], last["id"]) if more and last else None

    async def revoke(self, key_id: str, *, tenant: str | None = None) -> dict[str, Any] | None:
        """Revoke a key (of `tenant`, when given); its row, or None if there is no such key.

        Revoking twice keeps the first `revoked_at`.
        """
        row = await self._pool.fetchrow(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())"
            f" WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING {_COLUMNS}",
            key_id,
            tenant,
        )
        return key_row(row) if row else None

    async def secret_of(self, key_id: str) -> asyncpg.Record | None:
        """Digest, tenant, scopes and revocation of one key."""
        row: asyncpg.Record | None = await self._pool.fetchrow(
            "SELECT secret_sha256, tenant, scopes, revoked_at FROM api_keys WHERE id = $1",
            key_id,
        )
        return row

    async def touch(self, used: dict[str, datetime]) -> None:
        """Record when each key was last used (never moving `last_used_at` back)."""
        if not used:
            return
        await self._pool.execute(
            "UPDATE api_keys AS k SET last_used_at = u.at"
            " FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)"
            " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
            list(used),
            list(used.values()),
        )


@dataclass(frozen=True, slots=True)
class _Cached:
    expires: float
    digest: bytes | None  # None: no such key, or revoked
    principal: Principal | None


class PgKeyStore:
    """Resolves `tsk_...` keys against Postgres, through a short per-process cache."""

    def __init__(
        self,
        repo: KeyRepo,
        *,
        ttl: float,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repo = repo
        self._ttl = ttl
        self._max = max_entries
        self._monotonic = monotonic
        self._wall = wall
        self._cache: dict[str, _Cached] = {}
        self._used: dict[str, datetime] = {}

    async def lookup(self, key: str) -> Principal | None:
        """The principal of a live key, else None (other formats are not this store's)."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        entry = self._cache.get(parsed.key_id)
        if entry is None or entry.expires <= self._monotonic():
            entry = await self._load(parsed.key_id)
        if entry.digest is None or entry.principal is None:
            return None
        if not hmac.compare_digest(entry.digest, key_digest(parsed.secret)):
            return None
        self._used[parsed.key_id] = self._wall()
        return entry.principal

    async def _load(self, key_id: str) -> _Cached:
        row = await self._repo.secret_of(key_id)
        expires = self._monotonic() + self._ttl
        if row is None or row["revoked_at"] is not None:
            entry = _Cached(expires, None, None)
        else:
            principal = Principal(row["tenant"], frozenset(row["scopes"]), key_id)
            entry = _Cached(expires, bytes(row["secret_sha256"]), principal)
        if len(self._cache) >= self._max:
            self._evict()
        self._cache[key_id] = entry
        return entry

    def _evict(self) -> None:
        now = self._monotonic()
        for key_id in [k for k, e in self._cache.items() if e.expires <= now]:
            del self._cache[key_id]
        while len(self._cache) >= self._max:  # still full: drop the oldest loads
            del self._cache[next(iter(self._cache))]

    async def flush_usage(self) -> int:
        """Write the remembered uses to `last_used_at`; how many keys were written."""
        used, self._used = self._used, {}
        try:
            await self._repo.touch(used)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("last_used_at not written; retried later", extra={"error": repr(exc)})
            for key_id, at in used.items():
                self._used.setdefault(key_id, at)
            return 0
        return len(used)

    async def run_flusher(self, interval: float) -> None:
        """Flush uses every `interval` seconds until cancelled (then flush once more)."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush_usage()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush_usage())
