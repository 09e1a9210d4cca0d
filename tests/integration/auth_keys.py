"""Postgres API keys for the integration tests, made the way `taskstream keys create` does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from api.keys_pg import KeyRepo
from projections.migrate import migrate


@contextlib.asynccontextmanager
async def key_repo(stack: dict[str, Any]) -> AsyncIterator[KeyRepo]:
    """A key repository on the stack's Postgres."""
    pool = await asyncpg.create_pool(stack["postgres_dsn"], min_size=1, max_size=2)
    try:
        await migrate(pool)
        yield KeyRepo(pool)
    finally:
        await pool.close()


async def make_key(repo: KeyRepo, tenant: str, scopes: str, name: str = "") -> str:
    """A new key of `tenant` with `scopes` (comma-separated)."""
    _, key = await repo.create(tenant, scopes, name=name)
    return key


def client_for(api_url: str, key: str | None) -> httpx.AsyncClient:
    """An HTTP client that sends `key` (or no Authorization header)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30)
