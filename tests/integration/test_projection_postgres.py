"""The Postgres read model against a real Postgres: migrations, batch apply, queries.

Each module gets its own database on the stack's server, so nothing here touches the
stack's own read model.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from projections import postgres
from projections.fold import fold_batch
from projections.migrate import migrate, migrations
from projections.postgres import Positioned, apply_batch
from projections.read import ReadModel
from projections.synthetic import stream
from taskstream.domain import events as e
from taskstream.domain.commands import SUBMIT_TASK
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import decide
from tests.integration.helpers import with_database

pytestmark = pytest.mark.integration

PARTITIONS = 4


@pytest.fixture(scope="module")
async def db(stack: dict[str, Any]) -> AsyncIterator[str]:
    """A fresh, empty database; dropped afterwards."""
    name = f"ts_projection_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack["postgres_dsn"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(stack["postgres_dsn"], name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def pool(db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The pool on a migrated, emptied read model."""
    await migrate(pool)
    await pool.execute(
        "TRUNCATE tasks, task_events, projection_checkpoints, task_attempts, task_logs"
    )
    return pool


def positioned(events: list[Envelope]) -> list[Positioned]:
    """Events placed on partitions by task id, with per-partition offsets."""
    offsets = [0] * PARTITIONS
    out = []
    for ev in events:
        p = zlib.crc32(ev.task_id.encode()) % PARTITIONS
        out.append(Positioned(ev, p, offsets[p]))
        offsets[p] += 1
    return out


def last_offsets(batch: list[Positioned]) -> dict[int, int]:
    return {item.partition: item.offset for item in batch}


async def apply_all(pool: asyncpg.Pool, items: list[Positioned], size: int) -> list[Any]:
    results = []
    for i in range(0, len(items), size):
        batch = items[i : i + size]
        results.append(await apply_batch(pool, "tasks", batch, last_offsets(batch)))
    return results


async def table(pool: asyncpg.Pool) -> dict[str, Any]:
    rm = ReadModel(pool)
    rows = await pool.fetch("SELECT id, tenant FROM tasks")
    return {r["id"]: await rm.get_task(r["tenant"], r["id"]) for r in rows}


async def test_migrate_is_idempotent_and_safe_when_concurrent(pool: asyncpg.Pool) -> None:
    runs = await asyncio.gather(*(migrate(pool) for _ in range(3)))
    every = [m.name for m in migrations()]
    assert sorted(name for run in runs for name in run) in ([], every)
    assert await migrate(pool) == []
    names = await pool.fetch("SELECT name FROM schema_migrations ORDER BY name")
    assert [r["name"] for r in names] == every
    relations = (
        *("tasks", "task_events", "projection_checkpoints"),
        *("task_attempts", "task_logs", "schedules"),
    )
    for relation in relations:
        assert await pool.fetchval("SELECT to_regclass($1)", relation) is not None


async def test_batches_apply_once_whatever_is_replayed(clean: asyncpg.Pool) -> None:
    events = stream(150, seed=21, order="random")
    items = positioned(events)
    first = await apply_all(clean, items, 200)
    assert sum(r.archived for r in first) == len(events)
    # A crash after the commit but before the Kafka commit replays batches: nothing changes.
    before = await table(clean)
    again = await apply_all(clean, items[:50] + items, 333)  # replays inside a batch too
    assert sum(r.archived for r in again) == 0
    assert sum(r.tasks_updated for r in again) == 0
    assert await table(clean) == before
    expected = {tid: s.as_dict() for tid, s in fold_batch({}, events).changed.items()}
    assert before == expected
    saved = await clean.fetch('SELECT partition, "offset" FROM projection_checkpoints')
    assert {r["partition"]: r["offset"] for r in saved} == last_offsets(items)


async def test_a_failed_batch_leaves_nothing_behind(
    clean: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = positioned(stream(20, seed=22))

    def broken(*_: object, **__: object) -> str:
        raise RuntimeError("crash between the archive insert and the task upsert")

    monkeypatch.setattr(postgres, "_task_rows", broken)
    with pytest.raises(RuntimeError):
        await apply_batch(clean, "tasks", items, last_offsets(items))
    monkeypatch.undo()
    assert await clean.fetchval("SELECT count(*) FROM task_events") == 0
    assert await clean.fetchval("SELECT count(*) FROM projection_checkpoints") == 0
    result = await apply_batch(clean, "tasks", items, last_offsets(items))
    assert result.archived == len(items) and result.tasks_updated == 20


async def test_a_version_gap_is_archived_and_does_not_block(clean: asyncpg.Pool) -> None:
    events = stream(10, seed=23)
    victim = next(ev for ev in events if ev.version == 3 and ev.type != e.COMMAND_REJECTED)
    kept = [ev for ev in events if ev is not victim]
    result = (await apply_all(clean, positioned(kept), 1000))[0]
    assert result.fold.errors and {x.task_id for x in result.fold.errors} == {victim.task_id}
    assert await clean.fetchval("SELECT count(*) FROM task_events") == len(kept)
    assert await clean.fetchval("SELECT version FROM tasks WHERE id = $1", victim.task_id) == 2
    assert await clean.fetchval("SELECT count(*) FROM tasks") == 10


async def test_read_model_queries(clean: asyncpg.Pool) -> None:
    events = stream(90, seed=24, tenants=("acme", "globex"), order="random")
    await apply_all(clean, positioned(events), 500)
    final = fold_batch({}, events).changed
    rm = ReadModel(clean)
    acme = {tid: s for tid, s in final.items() if s.tenant == "acme"}
    some_id, some = next(iter(acme.items()))

    assert await rm.get_task("acme", some_id) == some.as_dict()
    assert await rm.get_task("globex", some_id) is None
    assert await rm.get_task("acme", "no-such-task") is None

    async def every_page(**filters: Any) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            page, cursor = await rm.list_tasks("acme", limit=7, cursor=cursor, **filters)
            assert len(page) <= 7
            seen += page
            if cursor is None:
                return seen

    no_filter = {"status": None, "queue": None, "type": None}
    listed = await every_page(**no_filter)
    order = sorted(acme.values(), key=lambda s: (s.created_at, s.id), reverse=True)
    assert [t["id"] for t in listed] == [s.id for s in order]
    for column in ("status", "queue", "type"):
        value = some.as_dict()[column]
        got = await every_page(**{**no_filter, column: value})
        assert {t["id"] for t in got} == {
            s.id for s in acme.values() if s.as_dict()[column] == value
        }
    both = await every_page(status=some.status.value, queue=some.queue, type=some.type)
    assert some_id in {t["id"] for t in both}
    with pytest.raises(ValueError, match="cursor"):
        await rm.list_tasks("acme", **no_filter, limit=5, cursor="garbage")

    counts = await rm.count_by_status("acme")
    assert sum(counts.values()) == len(acme)
    assert counts[some.status.value] >= 1

    rejected = next(ev for ev in events if ev.type == e.COMMAND_REJECTED and ev.version > 0)
    history = await rm.task_events(rejected.tenant, rejected.task_id)
    mine = [ev for ev in events if ev.task_id == rejected.task_id]
    assert len(history) == len(mine)
    assert [(h["version"], h["type"]) for h in history] == sorted(
        ((ev.version, ev.type) for ev in mine),
        key=lambda vt: (vt[0], vt[1] == e.COMMAND_REJECTED),
    )
    assert all(isinstance(h["partition"], int) and isinstance(h["offset"], int) for h in history)
    assert history[0]["payload"] == mine[0].payload
    later = await rm.task_events(rejected.tenant, rejected.task_id, after_version=2, limit=2)
    assert [h["version"] for h in later] == [h["version"] for h in history if h["version"] > 2][:2]
    other = "globex" if rejected.tenant == "acme" else "acme"
    assert await rm.task_events(other, rejected.task_id) == []


async def test_a_submit_refused_before_the_task_existed_is_in_its_history(
    clean: asyncpg.Pool,
) -> None:
    command = Envelope(
        event_id="cmd-1",
        type=SUBMIT_TASK,
        task_id="never-created",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        payload={"type": ""},
    )
    (rejection,) = decide(None, command, command.occurred_at)
    assert rejection.type == e.COMMAND_REJECTED and rejection.version == 0
    await apply_batch(clean, "tasks", [Positioned(rejection, 0, 0)], {0: 0})
    rm = ReadModel(clean)
    assert await rm.get_task("default", "never-created") is None
    (only,) = await rm.task_events("default", "never-created")
    assert only["event_id"] == rejection.event_id and only["version"] == 0
    assert only["payload"]["command_type"] == SUBMIT_TASK
    assert await rm.task_events("default", "never-created", after_version=1) == []


async def test_a_nul_character_is_stored_replaced_instead_of_stalling(clean: asyncpg.Pool) -> None:
    submit = Envelope(
        event_id="cmd-nul",
        type=SUBMIT_TASK,
        task_id="nul-task",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        payload={"type": "odd\x00type", "payload": {"s": "a\x00b", "raw": "\\u0000"}},
    )
    (submitted,) = decide(None, submit, submit.occurred_at)
    others = stream(5, seed=25)
    items = positioned([submitted, *others])
    result = await apply_batch(clean, "tasks", items, last_offsets(items))
    assert result.sanitized and result.archived == len(items)
    task = await ReadModel(clean).get_task("default", "nul-task")
    assert task is not None
    assert task["type"] == "odd\ufffdtype"
    assert task["payload"] == {"s": "a\ufffdb", "raw": "\\u0000"}
    assert await clean.fetchval("SELECT count(*) FROM tasks") == 6
    # The archive's json keeps what it is given, but is written without U+0000 too.
    archived = await clean.fetchval(
        "SELECT payload::text FROM task_events WHERE task_id = 'nul-task'"
    )
    assert orjson.loads(archived)["type"] == "odd\ufffdtype"
    assert orjson.loads(archived)["payload"] == {"s": "a\ufffdb", "raw": "\\u0000"}
