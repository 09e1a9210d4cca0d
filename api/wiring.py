"""The API's composition root: Postgres pool, migrations, read model, producer, keys."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import asyncpg
from aiokafka.errors import KafkaError

from api.auth import ChainedKeyStore, StaticKeyStore
from api.keys_pg import KeyRepo, PgKeyStore
from api.ports import Adapters, CommandLogUnavailable
from api.ratelimit import GCRA_LUA, RateLimiter
from api.workers_view import WorkersView
from projections.migrate import migrate
from projections.queue_read import QueueReadModel
from projections.read import ReadModel
from projections.redis_counters import connect_redis, keys_for
from projections.schedule_read import ScheduleReadModel
from projections.search.wiring import open_search
from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import InfrastructureError
from taskstream.producer import CommandProducer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

log = logging.getLogger(__name__)

STARTUP_DEADLINE_SECONDS = 60.0
# How long a request waits for the broker's acknowledgement before answering 503.
APPEND_TIMEOUT_SECONDS = 10.0
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_SECONDS = 5.0
SHUTDOWN_FLUSH_SECONDS = 5.0
_T = TypeVar("_T")
_RETRYABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError)


def redact(dsn: str) -> str:
    """A DSN without its password, fit for a log line."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


async def retry(
    what: str, attempt: Callable[[], Awaitable[_T]], *, deadline: float, **context: Any
) -> _T:
    """Run `attempt` until it succeeds or `deadline` seconds pass, logging each failure."""
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        try:
            return await attempt()
        except _RETRYABLE as exc:
            waited = time.monotonic() - start
            if waited >= deadline:
                log.error(
                    f"{what} still unreachable; giving up",
                    extra={**context, "attempts": n, "waited_s": round(waited, 1)},
                )
                raise
            log.warning(
                f"{what} not reachable yet; retrying",
                extra={**context, "attempt": n, "error": repr(exc)},
            )
            await asyncio.sleep(min(2.0, 0.25 * n))


class ApiProducer(CommandProducer):
    """The command producer, plus a readiness ping."""

    async def ping(self) -> None:
        """Refresh cluster metadata: proves a broker answers."""
        if not await self._producer.client.force_metadata_update():
            raise InfrastructureError("the broker did not answer a metadata request")


class Producer(Protocol):
    """What the sink needs of the producer."""

    async def send(self, command: Envelope) -> asyncio.Future[Any]:
        """Queue `command`; the future resolves on the broker's acknowledgement."""
        ...

    async def ping(self) -> None:
        """Raise unless a broker answers."""
        ...


class KafkaCommandSink:
    """Appends through the producer, bounded in time, classifying failures for a 503.

    After an append that went unacknowledged the broker is suspect: until a metadata
    round trip succeeds again, appends fail fast without queuing anything, so clients
    get a certain "nothing was written" instead of waiting out another timeout.
    """

    def __init__(self, producer: Producer, *, timeout: float, probe_timeout: float = 1.0) -> None:
        self._producer = producer
        self._timeout = timeout
        self._probe_timeout = probe_timeout
        self._suspect = False

    async def append(self, command: Envelope) -> None:
        """Return once the broker acknowledged `command`."""
        await self.append_many([command])

    async def append_many(self, commands: list[Envelope]) -> None:
        """Return once the broker acknowledged every command (within one timeout)."""
        if self._suspect:
            await self._recheck()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        deliveries: list[asyncio.Future[Any]] = []
        try:
            for command in commands:
                left = max(0.0, deadline - loop.time())
                deliveries.append(await asyncio.wait_for(self._producer.send(command), left))
        except (KafkaError, TimeoutError, OSError) as exc:
            # Nothing queued yet: the broker certainly has nothing; else some may arrive.
            if deliveries:
                self._suspect = True
            raise CommandLogUnavailable(repr(exc), written=None if deliveries else False) from exc
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.gather(*deliveries)), max(0.0, deadline - loop.time())
            )
        except (KafkaError, TimeoutError, OSError) as exc:
            # Queued or sent: they may still reach the log.
            self._suspect = True
            raise CommandLogUnavailable(repr(exc), written=None) from exc

    async def _recheck(self) -> None:
        try:
            await asyncio.wait_for(self._producer.ping(), self._probe_timeout)
        except (InfrastructureError, KafkaError, TimeoutError, OSError) as exc:
            raise CommandLogUnavailable(f"broker unreachable: {exc!r}", written=False) from exc
        self._suspect = False
        log.info("broker reachable again")


class PostgresProbe:
    """Readiness of the read model's database."""

    name = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def check(self) -> None:
        """`SELECT 1`."""
        await self._pool.fetchval("SELECT 1")


class BrokerProbe:
    """Readiness of the command producer."""

    name = "broker"

    def __init__(self, producer: ApiProducer) -> None:
        self._producer = producer

    async def check(self) -> None:
        """A metadata round trip."""
        await self._producer.ping()


async def _start_producer(settings: Settings) -> ApiProducer:
    producer = ApiProducer(settings)
    try:
        await producer.start()
    except BaseException:
        # A failed start leaves a half-open client; a new producer is built next time.
        with contextlib.suppress(Exception):
            await producer.stop()
        raise
    return producer


async def _stop(producer: ApiProducer) -> None:
    # Stopping flushes; with the broker gone that would wait out every retry.
    try:
        await asyncio.wait_for(producer.stop(), SHUTDOWN_FLUSH_SECONDS)
    except TimeoutError:
        log.warning("producer did not flush in time; unacknowledged commands are dropped")


@asynccontextmanager
async def open_adapters(settings: Settings) -> AsyncIterator[Adapters]:
    """Build the real adapters (waiting for Postgres and the broker); close them on exit."""
    dsn = redact(settings.postgres_dsn)
    pool: asyncpg.Pool = await retry(
        "postgres",
        lambda: asyncpg.create_pool(
            settings.postgres_dsn,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            timeout=CONNECT_TIMEOUT_SECONDS,
        ),
        deadline=STARTUP_DEADLINE_SECONDS,
        dsn=dsn,
    )
    try:
        applied = await migrate(pool)
        log.info("read model ready", extra={"dsn": dsn, "migrations_applied": applied})
        await ensure_topics(settings, base_topic_names(settings))
        producer = await retry(
            "broker",
            lambda: _start_producer(settings),
            deadline=STARTUP_DEADLINE_SECONDS,
            bootstrap=settings.kafka_bootstrap,
        )
        redis = connect_redis(settings, timeout=settings.redis_timeout_seconds)
        workers = WorkersView(settings)
        workers.start()
        try:
            async with (
                _auth(settings, pool) as (keys, repo, limiter),
                open_search(settings, pool) as search,
            ):
                yield Adapters(
                    read_model=ReadModel(pool),
                    schedules=ScheduleReadModel(pool),
                    commands=KafkaCommandSink(producer, timeout=APPEND_TIMEOUT_SECONDS),
                    keys=keys,
                    probes=(PostgresProbe(pool), BrokerProbe(producer)),
                    search=search,
                    queue_reads=QueueReadModel(
                        pool,
                        redis,
                        keys_for(settings.topic_prefix),
                        timeout=settings.redis_timeout_seconds,
                    ),
                    workers=workers,
                    key_admin=repo,
                    limiter=limiter,
                )
        finally:
            await workers.stop()
            await redis.aclose()
            await _stop(producer)
    finally:
        await pool.close()


@asynccontextmanager
async def _auth(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[ChainedKeyStore, KeyRepo, RateLimiter]]:
    """Keys (static, then Postgres, with the last-used flusher) and the Redis rate limiter."""
    from redis.asyncio import Redis

    static = StaticKeyStore.from_setting(settings.api_keys)
    repo = KeyRepo(pool)
    stored = PgKeyStore(repo, ttl=settings.api_key_cache_seconds)
    timeout = settings.rate_limit_redis_timeout_seconds
    redis = Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    limiter = RateLimiter(
        redis.register_script(GCRA_LUA),
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        timeout=timeout,
    )
    flusher = asyncio.ensure_future(stored.run_flusher(settings.api_key_last_used_flush_seconds))
    try:
        yield ChainedKeyStore(static, stored), repo, limiter
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await redis.aclose()
