"""An in-process API on the stack's Postgres, Redis and broker, with a key per test tenant.

The stack's own API knows only the `default` tenant; these tests submit under fresh
tenants (straight onto the commands topic) so their counts are theirs alone.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from api.app import create_app
from api.auth import ALL_SCOPES, Principal
from api.ports import Adapters
from api.testing import RecordingSink, http_client
from api.workers_view import WorkersView
from projections.counters import COUNTED_STATUSES, field_name
from projections.queue_read import QueueReadModel
from projections.read import ReadModel
from projections.redis_counters import connect_redis, keys_for
from taskstream.producer import CommandProducer, make_command
from taskstream.settings import Settings


class TenantKeys:
    """`key-<tenant>` is a key of `<tenant>` with every scope."""

    async def lookup(self, key: str) -> Principal | None:
        if not key.startswith("key-"):
            return None
        return Principal(key.removeprefix("key-"), ALL_SCOPES, key)


def fresh_tenant() -> str:
    """A tenant no other test uses."""
    return f"cnt-{uuid.uuid4().hex[:10]}"


def stack_settings(stack: dict[str, Any], **changes: Any) -> Settings:
    """Settings on the stack's endpoints (its test timings for heartbeats)."""
    return Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        postgres_dsn=stack["postgres_dsn"],
        redis_url=stack["redis_url"],
        worker_heartbeat_seconds=1.0,
        **changes,
    )


@contextlib.asynccontextmanager
async def tenant_app(stack: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """`{"client": f(tenant) -> httpx client, "redis", "pool", "settings"}` on the stack."""
    settings = stack_settings(stack)
    pool = await asyncpg.create_pool(stack["postgres_dsn"], min_size=1, max_size=4)
    redis = connect_redis(settings, timeout=settings.redis_timeout_seconds)
    workers = WorkersView(settings)
    workers.start()
    try:
        adapters = Adapters(
            read_model=ReadModel(pool),
            commands=RecordingSink(),
            keys=TenantKeys(),
            queue_reads=QueueReadModel(
                pool, redis, keys_for(settings.topic_prefix), timeout=settings.redis_timeout_seconds
            ),
            workers=workers,
        )
        app = create_app(settings, deps=adapters)

        def client(tenant: str) -> httpx.AsyncClient:
            return http_client(app, key=f"key-{tenant}")

        yield {"client": client, "redis": redis, "pool": pool, "settings": settings}
    finally:
        await workers.stop()
        await redis.aclose()
        await pool.close()


async def submit_as(stack: dict[str, Any], tenant: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Publish submit commands for `tenant` onto the commands topic; the task ids."""
    producer = CommandProducer(Settings(kafka_bootstrap=stack["kafka_bootstrap"]))
    await producer.start()
    try:
        commands = [
            make_command("task.submit", str(uuid.uuid4()), body, tenant=tenant) for body in bodies
        ]
        await producer.append_many(commands)
        return [c.task_id for c in commands]
    finally:
        await producer.stop()


async def pg_counts(pool: asyncpg.Pool, tenant: str) -> dict[str, int]:
    """The counters of `tenant` counted in the `tasks` table."""
    rows = await pool.fetch(
        "SELECT queue, priority, status, count(*) AS n FROM tasks"
        " WHERE tenant = $1 AND status = ANY($2::text[]) GROUP BY 1, 2, 3",
        tenant,
        list(COUNTED_STATUSES),
    )
    return {field_name(r["queue"], r["priority"], r["status"]): r["n"] for r in rows}


def api_counts(body: dict[str, Any]) -> dict[str, int]:
    """The counters in a `GET /v1/queues` body, as `queue|priority|counter` -> n."""
    out: dict[str, int] = {}
    for q in body["queues"]:
        for row in q["by_priority"]:
            for counter in COUNTED_STATUSES:
                if row[counter]:
                    out[field_name(q["queue"], row["priority"], counter)] = row[counter]
    return out


async def redis_counts(redis: Redis, settings: Settings, tenant: str) -> dict[str, int]:
    """The raw counters of `tenant` in Redis."""
    raw = await redis.hgetall(keys_for(settings.topic_prefix).counts(tenant))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def service_pid(stack: dict[str, Any], name: str) -> int:
    """The current PID of one of the stack's children (stack.json is rewritten on restart)."""
    doc = json.loads((Path(stack["data_dir"]) / "stack.json").read_text())
    pid: int = doc["services"][name]["pid"]
    return pid
