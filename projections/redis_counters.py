"""The queue counters in Redis: applying a batch's change, rebuilding from Postgres, reading.

Keys (all in one cluster slot through the `{counters}` hash tag):

- `<prefix>:{counters}:counts:<tenant>`: hash, field `queue|priority|counter` -> count;
- `<prefix>:{counters}:applied`: hash, partition -> last events offset the counts include;
- `<prefix>:{counters}:tenants`: set of tenants with a counts hash;
- `<prefix>:{counters}:seq`: bumped by every change, so a rebuild can tell it raced one.

A batch's change carries, per partition, the checkpoint it moves from and to. The script
applies it only if every partition's `applied` offset equals the "from" (then moves them to
"to"), answers `duplicate` if they are already at or past "to" (a change sent twice), and
`gap` or `missing` otherwise (a change was lost, or Redis lost its data): then the
counters are rebuilt from Postgres. A rebuild reads the counts and the checkpoints in one
Postgres snapshot, writes them under temporary keys and swaps them in with one
MULTI/EXEC, which fails if any change was applied meanwhile (then it tries again).
So a lost, doubled or late change never leaves the counts wrong past the next batch.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from projections.counters import COUNTED_STATUSES, CounterDelta, field_name
from taskstream.settings import Settings

log = logging.getLogger(__name__)

_TEMP_TTL_SECONDS = 120

# KEYS: applied, seq, tenants, counts:<tenant> for each tenant in ARGV[2]
# ARGV: partitions JSON {p: [from, to]}, tenants JSON [t...], changes JSON [{field: n}...]
_APPLY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local parts = cjson.decode(ARGV[1])
local fresh, done = 0, 0
for p, span in pairs(parts) do
  local cur = tonumber(redis.call('HGET', KEYS[1], p) or '-1')
  if span[2] <= cur then done = done + 1
  elseif span[1] == cur then fresh = fresh + 1
  else return 'gap' end
end
if fresh == 0 then return 'duplicate' end
if done > 0 then return 'gap' end
local tenants = cjson.decode(ARGV[2])
local changes = cjson.decode(ARGV[3])
local negative = false
for i, tenant in ipairs(tenants) do
  local key = KEYS[3 + i]
  for f, n in pairs(changes[i]) do
    local v = redis.call('HINCRBY', key, f, n)
    if v == 0 then redis.call('HDEL', key, f) elseif v < 0 then negative = true end
  end
  redis.call('SADD', KEYS[3], tenant)
end
for p, span in pairs(parts) do redis.call('HSET', KEYS[1], p, span[2]) end
redis.call('INCR', KEYS[2])
if negative then return 'negative' end
return 'applied'
"""


@dataclass(frozen=True, slots=True)
class CounterKeys:
    """The Redis key names under one prefix."""

    prefix: str

    @property
    def base(self) -> str:
        """Common part of every key."""
        return f"{self.prefix}:{{counters}}"

    @property
    def applied(self) -> str:
        """Hash: partition -> offset the counts include."""
        return f"{self.base}:applied"

    @property
    def seq(self) -> str:
        """Change sequence number."""
        return f"{self.base}:seq"

    @property
    def tenants(self) -> str:
        """Set of tenants with counts."""
        return f"{self.base}:tenants"

    def counts(self, tenant: str) -> str:
        """Hash of one tenant's counters."""
        return f"{self.base}:counts:{tenant}"

    def temp(self, token: str, name: str) -> str:
        """A rebuild's temporary key."""
        return f"{self.base}:tmp:{token}:{name}"


def keys_for(topic_prefix: str) -> CounterKeys:
    """The counter keys of a deployment (its topic prefix)."""
    return CounterKeys(topic_prefix)


def connect_redis(settings: Settings, *, timeout: float) -> Redis:
    """A Redis client whose every call gives up after `timeout` seconds."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
    )


async def apply_delta(redis: Redis, keys: CounterKeys, delta: CounterDelta) -> str:
    """Apply one batch's change: `applied`, `duplicate`, `gap`, `missing` or `negative`."""
    if not delta.partitions:
        return "duplicate"
    changes = delta.by_tenant()
    tenants = sorted(changes)
    parts = {str(p): list(span) for p, span in delta.partitions.items()}
    result = await redis.eval(  # type: ignore[misc]
        _APPLY,
        3 + len(tenants),
        keys.applied,
        keys.seq,
        keys.tenants,
        *(keys.counts(t) for t in tenants),
        orjson.dumps(parts),
        orjson.dumps(tenants),
        # cjson decodes [] as an array and {} as an object; a tenant always has changes.
        orjson.dumps([changes[t] for t in tenants]),
    )
    return result.decode() if isinstance(result, bytes) else str(result)


_SNAPSHOT_COUNTS = """
SELECT tenant, queue, priority, status, count(*) AS n FROM tasks
WHERE status = ANY($1::text[]) GROUP BY tenant, queue, priority, status
"""
_SNAPSHOT_CHECKPOINTS = """
SELECT partition, "offset" FROM projection_checkpoints WHERE projection = $1
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counts and checkpoints read together from Postgres."""

    counts: dict[str, dict[str, int]]  # tenant -> field -> n
    checkpoints: dict[int, int]


async def snapshot(pool: asyncpg.Pool, projection: str) -> Snapshot:
    """The counters as the `tasks` table has them, with the checkpoints they include."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(_SNAPSHOT_COUNTS, list(COUNTED_STATUSES))
        marks = await conn.fetch(_SNAPSHOT_CHECKPOINTS, projection)
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counter = r["status"]  # the counters are named after their statuses
        counts.setdefault(r["tenant"], {})[field_name(r["queue"], r["priority"], counter)] = r["n"]
    return Snapshot(counts, {m["partition"]: m["offset"] for m in marks})


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What `rebuild_counters` installed."""

    tenants: int
    fields: int
    tasks: int
    checkpoints: dict[int, int]
    attempts: int


class RebuildRaced(Exception):
    """Every try of a rebuild met a concurrent change."""


async def rebuild_counters(
    pool: asyncpg.Pool,
    redis: Redis,
    *,
    keys: CounterKeys,
    projection: str = "tasks",
    partitions: int = 0,
    tries: int = 5,
) -> RebuildResult:
    """Recompute every counter from Postgres and swap them into Redis atomically.

    `partitions` makes sure offsets of partitions without a checkpoint are recorded as -1.
    Raises `RebuildRaced` when a concurrent change was applied during each of `tries`.
    """
    for attempt in range(1, tries + 1):
        seq = int(await redis.get(keys.seq) or 0)
        snap = await snapshot(pool, projection)
        applied = {p: -1 for p in range(partitions)} | snap.checkpoints
        if await _install(redis, keys, snap.counts, applied, seq):
            fields = sum(len(c) for c in snap.counts.values())
            tasks = sum(sum(c.values()) for c in snap.counts.values())
            log.info(
                "counters rebuilt",
                extra={"tenants": len(snap.counts), "fields": fields, "tasks": tasks},
            )
            return RebuildResult(len(snap.counts), fields, tasks, applied, attempt)
        log.info("counter rebuild raced a change; trying again", extra={"attempt": attempt})
    raise RebuildRaced(f"a change was applied during each of {tries} rebuild tries")


async def rebuild_counters_for(
    settings: Settings, pool: asyncpg.Pool, *, projection: str = "tasks"
) -> RebuildResult:
    """`rebuild_counters` on the Redis of `settings` (for `taskstream replay rebuild redis`)."""
    redis = connect_redis(settings, timeout=settings.counters_redis_timeout_seconds)
    try:
        return await rebuild_counters(
            pool,
            redis,
            keys=keys_for(settings.topic_prefix),
            projection=projection,
            partitions=settings.partitions,
            tries=20,
        )
    finally:
        await redis.aclose()


async def _install(
    redis: Redis,
    keys: CounterKeys,
    counts: Mapping[str, Mapping[str, int]],
    applied: Mapping[int, int],
    seq: int,
) -> bool:
    token = uuid.uuid4().hex
    temp_applied = keys.temp(token, "applied")
    temps = {t: keys.temp(token, f"counts:{t}") for t, c in counts.items() if c}
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(temp_applied, mapping={str(p): o for p, o in applied.items()} or {"-": -1})
        pipe.expire(temp_applied, _TEMP_TTL_SECONDS)
        for tenant, key in temps.items():
            mapping: dict[str | bytes, int] = {f: n for f, n in counts[tenant].items()}
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(key, _TEMP_TTL_SECONDS)
        await pipe.execute()
    try:
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.seq)
            if int(await pipe.get(keys.seq) or 0) != seq:
                return False
            old = {_text(m) for m in await pipe.smembers(keys.tenants)}
            pipe.multi()  # type: ignore[no-untyped-call]
            for tenant in old - temps.keys():
                pipe.delete(keys.counts(tenant))
            for tenant, key in temps.items():
                pipe.rename(key, keys.counts(tenant))
                pipe.persist(keys.counts(tenant))
            pipe.delete(keys.tenants)
            if temps:
                pipe.sadd(keys.tenants, *temps)
            pipe.rename(temp_applied, keys.applied)
            pipe.persist(keys.applied)
            pipe.incr(keys.seq)
            await pipe.execute()
            return True
    except WatchError:
        return False
    finally:
        await redis.delete(temp_applied, *temps.values())


async def read_counts(redis: Redis, keys: CounterKeys, tenant: str) -> dict[str, int] | None:
    """One tenant's counters (`queue|priority|counter` -> n); None until they are built."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.exists(keys.applied)
        pipe.hgetall(keys.counts(tenant))
        built, raw = await pipe.execute()
    if not built:
        return None
    return {_text(name): int(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def to_jsonable(result: RebuildResult) -> dict[str, Any]:
    """A rebuild's result as a JSON-ready dict (for the CLI and logs)."""
    return {
        "tenants": result.tenants,
        "fields": result.fields,
        "tasks": result.tasks,
        "checkpoints": {str(p): o for p, o in sorted(result.checkpoints.items())},
        "attempts": result.attempts,
    }
