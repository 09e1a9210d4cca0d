"""Health probes: one round trip in each server's own protocol."""

from __future__ import annotations

import asyncio
import contextlib

from taskstream.stack.ports import LOOPBACK


async def tcp_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def kafka_ready(bootstrap: str) -> bool:
    """A metadata round trip (ListTopics) through the admin client."""
    from aiokafka.admin import AIOKafkaAdminClient

    host, _, port = bootstrap.rpartition(":")
    # The TCP check first: the admin client logs and retries at length on a closed port.
    if not await tcp_open(int(port), host or LOOPBACK):
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()
    return True


async def postgres_ready(dsn: str) -> bool:
    """Connect and `select 1`."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        return bool(await conn.fetchval("select 1") == 1)
    finally:
        await conn.close()


async def redis_ready(url: str) -> bool:
    """PING."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def http_ok(url: str) -> bool:
    """GET `url` answers 200."""
    import httpx

    async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
        response = await client.get(url)
    return response.status_code == 200
