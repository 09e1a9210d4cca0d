"""A rebuild's bulk load drops the archive's primary key and builds it again afterwards:
an event the log holds twice is archived once (the first copy, as the live projector
keeps it), and a U+0000 in an event goes through the statement without a conflict target.
The queue statistics, summed over the load and written once at its end, are those of
the whole stream. A load that stops resumes from its checkpoints with the same result.

Its own database and topics, so the stack's read model is untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest

from projections.fold import fold_batch
from projections.queue_models import STAT_PARTS
from projections.queue_stats import COUNT_FIELDS, fold_stats
from projections.replay import schema as sc
from projections.replay.config import ReplaySettings
from projections.replay.rebuild import Replayer
from projections.replay.resume import keep_or_drop, shadow_progress
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.producer import build_producer
from taskstream.settings import Settings
from tests.integration.helpers import fresh_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(stack: dict[str, Any]) -> AsyncIterator[Settings]:
    """Settings on a fresh database and fresh topics."""
    async with fresh_settings(stack, "bulk") as s:
        yield s


def _with_nul(ev: Envelope) -> Envelope:
    payload = {**ev.payload, "payload": {"s": "a\x00b"}}
    return msgspec.structs.replace(ev, payload=payload)


# An integer beyond 64 bits: a foreign producer may send one, the codec decodes it exactly.
BIG = 2**70


def _with_big(ev: Envelope) -> Envelope:
    return msgspec.structs.replace(ev, payload={**ev.payload, "payload": {"n": BIG}})


async def _produce(settings: Settings) -> tuple[list[Envelope], list[str]]:
    events = stream(80, seed=5)
    first = next(i for i, ev in enumerate(events) if ev.type == e.TASK_SUBMITTED)
    events[first] = _with_nul(events[first])
    # In another batch than the U+0000 one, which goes down the slower statements.
    last = max(i for i, ev in enumerate(events) if ev.type == e.TASK_SUBMITTED)
    events[last] = _with_big(events[last])
    twice = [ev for ev in events if ev.type != e.TASK_SUBMITTED][:6]
    producer = build_producer(settings)
    await producer.start()
    try:
        topic = settings.topic("events")
        for ev in [*events, *twice]:  # the copies come later in each task's partition
            await producer.send_and_wait(topic, encode(ev), key=ev.task_id.encode())
    finally:
        await producer.stop()
    return events, [ev.event_id for ev in twice]


async def _archive(settings: Settings, schema: str) -> tuple[int, int, bool, int, int]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        table = f'"{schema}".task_events'
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        ids = await conn.fetchval(f"SELECT count(DISTINCT event_id) FROM {table}")
        keyed = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_namespace n"
            " ON n.oid = c.connamespace WHERE n.nspname = $1 AND c.conname = $2)",
            schema,
            sc.ARCHIVE_KEY,
        )
        nul = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE payload->'payload'->>'s' = 'a\ufffdb'"
        )
        big = await conn.fetchval(
            f'SELECT count(*) FROM {table} e JOIN "{schema}".tasks t ON t.id = e.task_id'
            " WHERE (e.payload->'payload'->'n')::jsonb = $1::jsonb"
            " AND t.state->'payload'->'n' = $1::jsonb",
            str(BIG),
        )
        return rows, ids, keyed, nul, big
    finally:
        await conn.close()


StatsRow = tuple[tuple[int, ...], int, int, int, int, tuple[int, ...], tuple[int, ...]]


def _expected_stats(events: list[Envelope]) -> dict[tuple[Any, ...], StatsRow]:
    rows = fold_stats(fold_batch({}, events).transitions)
    return {
        key: (
            tuple(r.counts[c] for c in COUNT_FIELDS),
            r.run_us,
            r.run_count,
            r.wait_us,
            r.wait_count,
            tuple(r.run_hist),
            tuple(r.wait_hist),
        )
        for key, r in rows.items()
    }


async def _stats(settings: Settings, schema: str) -> dict[tuple[Any, ...], StatsRow]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch(f'SELECT * FROM "{schema}".queue_stats')
    finally:
        await conn.close()
    return {
        (r["tenant"], r["queue"], r["bucket"]): (
            tuple(r[c] for c in COUNT_FIELDS),
            int(r["run_sum"] * 1_000_000),
            r["run_count"],
            int(r["wait_sum"] * 1_000_000),
            r["wait_count"],
            tuple(r["run_hist"]),
            tuple(r["wait_hist"]),
        )
        for r in rows
    }


@pytest.mark.parametrize("workers", [1, 2])
async def test_bulk_archives_each_event_once_and_keys_the_archive_again(
    settings: Settings, workers: int
) -> None:
    events, _ = await _produce(settings)
    schema = f"bulk_{uuid.uuid4().hex[:8]}"
    # 20-record batches: 2 workers replay in processes (5 batches or more behind).
    r = Replayer(
        settings, schema, replay=ReplaySettings(replay_batch_size=20, replay_workers=workers)
    )
    try:
        await r.open()
        await r.bulk(r.head_targets())
        report = r.report()
        (rows, ids, keyed, nul, big), stats, leftovers = await _loaded(settings, schema)
    finally:
        await r.close()
        await sc.drop_schema(settings.postgres_dsn, schema)
    assert report.events == len(events) + 6  # every record was read
    assert report.fold_errors == 0
    assert rows == ids == len(events)  # the later copies are gone
    assert keyed
    assert nul == 1  # stored as U+FFFD, as the live projector stores it
    assert big == 1  # exactly
    assert r.applier.archive_keyed
    assert stats == _expected_stats(events)
    assert not r.applier.stat_parts  # written per batch again after the load
    assert leftovers == []  # the load's own tables are gone


async def _bookkeeping(settings: Settings, schema: str) -> list[str]:
    """The bulk load's own tables still in `schema`."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        names = [f'"{schema}".{n}' for n in (sc.BULK_STATE, STAT_PARTS)]
        return [n for n in names if await conn.fetchval("SELECT to_regclass($1)", n)]
    finally:
        await conn.close()


async def _loaded(
    settings: Settings, schema: str
) -> tuple[tuple[int, int, bool, int, int], dict[tuple[Any, ...], StatsRow], list[str]]:
    """What a finished load left: the archive's figures, the statistics, its own tables."""
    archive = await _archive(settings, schema)
    return archive, await _stats(settings, schema), await _bookkeeping(settings, schema)


class _Stop(Exception):
    """Raised from the progress callback: the load stops as after a crash."""


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_bulk_load_that_stops_resumes_from_its_checkpoints(
    settings: Settings, workers: int
) -> None:
    events, _ = await _produce(settings)
    schema = f"bulk_{uuid.uuid4().hex[:8]}"
    replay = ReplaySettings(replay_batch_size=20, replay_workers=workers)

    def stop_once_60_are_applied(name: str, done: int, total: int) -> None:
        # Reported after each batch in this process, every half second from processes.
        if done >= 60:
            raise _Stop

    first = Replayer(settings, schema, replay=replay, progress=stop_once_60_are_applied)
    again = Replayer(settings, schema, replay=replay)
    try:
        await first.open()
        with pytest.raises(_Stop):
            await first.bulk(first.head_targets())
        await first.close()
        stopped_at = await shadow_progress(settings.postgres_dsn, schema)
        assert stopped_at is not None and stopped_at >= 60
        assert await _bookkeeping(settings, schema)  # what the load dropped, for later
        if workers == 1:  # in this process, the stop comes after exactly three batches
            assert stopped_at == 3 * 20

        await again.open(create=False)
        assert sum(o + 1 for s in again.streams for o in s.done.values()) == stopped_at
        assert again.resumed_from == stopped_at
        await again.bulk(again.head_targets())
        report = again.report()
        (rows, ids, keyed, nul, big), stats, leftovers = await _loaded(settings, schema)
    finally:
        await first.close()
        await again.close()
        await sc.drop_schema(settings.postgres_dsn, schema)
    assert report.events == len(events) + 6
    assert rows == ids == len(events)  # each event once: nothing applied twice or lost
    assert keyed and nul == big == 1
    assert stats == _expected_stats(events)  # the statistics of the kept batches count
    assert leftovers == []


def test_restore_archive_key_keeps_the_first_copy(settings: Settings) -> None:
    async def scenario() -> list[int]:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            await conn.execute(
                "CREATE TEMP TABLE task_events (event_id text PRIMARY KEY, partition int,"
                ' "offset" bigint)'
            )
            schema = await conn.fetchval(
                "SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()"
            )
            assert await sc.drop_archive_key(conn, schema)
            await conn.executemany(
                "INSERT INTO task_events VALUES ($1, 0, $2)",
                [("a", 7), ("b", 3), ("a", 2), ("a", 9)],
            )
            assert await sc.restore_archive_key(conn, schema) == 2
            rows = await conn.fetch('SELECT "offset" FROM task_events ORDER BY event_id')
            return [row["offset"] for row in rows]
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == [2, 3]


async def test_a_rebuild_that_fails_before_its_first_batch_drops_its_shadow(
    settings: Settings,
) -> None:
    schema = f"bulk_{uuid.uuid4().hex[:8]}"
    r = Replayer(settings, schema)
    await r.open()  # created and migrated, nothing applied
    await r.close()
    failure = RuntimeError("before any batch")
    await keep_or_drop(settings.postgres_dsn, schema, failure)
    assert await shadow_progress(settings.postgres_dsn, schema) is None
    assert not getattr(failure, "__notes__", None)  # nothing kept, nothing to resume
