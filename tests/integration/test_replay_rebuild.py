"""Rebuild and verify on the running stack, while tasks flow through it.

The stack's own read model is rebuilt and switched over under its live projector; the
projector must carry on from the rebuilt checkpoints (every task still reaches its end
in the new tables), and verify, also run under traffic, must find no difference. A
rebuild that stops keeps its shadow, and resuming it ends in the same model.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from projections.locks import hold_batch_lock
from projections.replay import schema as sc
from projections.replay.config import ReplaySettings
from projections.replay.more_targets import rebuild_search_target
from projections.replay.rebuild import Replayer
from projections.replay.resume import NoSuchShadow, resume_command, shadow_progress
from projections.replay.switch import rebuild_postgres
from projections.replay.verify import verify
from taskstream.settings import Settings
from tests.integration.helpers import api, submit_many, wait_terminal

pytestmark = pytest.mark.integration


def stack_settings(stack: dict[str, Any]) -> Settings:
    return Settings(kafka_bootstrap=stack["kafka_bootstrap"], postgres_dsn=stack["postgres_dsn"])


async def traffic(stack: dict[str, Any], waves: int, per_wave: int) -> list[str]:
    """Waves of tasks over REST: echoes, and failures that retry (several events each)."""
    ids: list[str] = []
    async with api(stack) as client:
        for wave in range(waves):
            bodies = [
                {"type": "demo.echo", "payload": {"wave": wave, "i": i}}
                if i % 4
                else {
                    "type": "demo.fail",
                    "payload": {"failures": 1},
                    "backoff_base_seconds": 0.05,
                }
                for i in range(per_wave)
            ]
            ids += await submit_many(client, bodies, concurrency=8)
            await asyncio.sleep(0.2)
    return ids


def differences(report: Any) -> list[str]:
    return [d.describe() for t in report.tables for d in t.shown]


async def test_rebuild_under_traffic_switches_over_and_verify_finds_nothing(
    stack: dict[str, Any],
) -> None:
    settings = stack_settings(stack)
    before = await traffic(stack, 2, 50)
    await wait_terminal(stack["postgres_dsn"], before)
    # Small batches and a small switch gap: many rounds while the projector keeps going.
    replay = ReplaySettings(replay_batch_size=300, replay_switch_gap=40)
    during = asyncio.create_task(traffic(stack, 8, 40))
    await asyncio.sleep(0.5)
    report = await rebuild_postgres(settings, replay=replay, keep_old=True)
    ids = before + await during
    assert report.switched
    assert {"tasks", "task_events", "task_attempts", "task_logs", "projection_checkpoints"} <= set(
        report.swapped
    )
    assert report.events > 0 and report.old_schema

    # The live projector carried on in the rebuilt tables: every task reaches its end there.
    statuses = await wait_terminal(stack["postgres_dsn"], ids, timeout=180)
    assert set(statuses.values()) == {"succeeded"}, statuses
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        old_tasks = await conn.fetchval(f'SELECT count(*) FROM "{report.old_schema}".tasks')
        assert old_tasks >= len(before)  # the replaced model, kept on request
        events = await conn.fetchval("SELECT count(*) FROM task_events")
        distinct = await conn.fetchval(
            'SELECT count(DISTINCT (partition, "offset")) FROM task_events'
        )
        assert events == distinct  # nothing archived twice across the switch
    finally:
        await conn.close()
        await sc.drop_schema(stack["postgres_dsn"], report.old_schema)

    # Verify while more tasks flow: compared at a common cut, nothing differs.
    more = asyncio.create_task(traffic(stack, 4, 40))
    result = await verify(settings, replay=ReplaySettings(replay_batch_size=500))
    assert result.differences == 0, differences(result)
    compared = {t.table for t in result.tables if t.skipped is None}
    assert {"tasks", "task_events", "task_attempts", "task_logs"} <= compared
    by_table = {t.table: t for t in result.tables}
    assert by_table["tasks"].live_rows >= len(ids)
    assert by_table["task_attempts"].ignored == ("version",)
    await wait_terminal(stack["postgres_dsn"], await more, timeout=180)
    again = await verify(settings)
    assert again.differences == 0, differences(again)


async def test_verify_reports_a_tampered_row(stack: dict[str, Any]) -> None:
    settings = stack_settings(stack)
    ids = await traffic(stack, 1, 5)
    await wait_terminal(stack["postgres_dsn"], ids)
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        # Something other than the projector changed a row; verify must name it.
        async with conn.transaction():
            await hold_batch_lock(conn)  # between projector batches
            await conn.execute("UPDATE tasks SET priority = 0 WHERE id = $1", ids[0])
            # The archive keeps payloads as written (json): a payload spelled otherwise,
            # as one migrated from jsonb is, holds the same value and is no difference.
            await conn.execute(
                "UPDATE task_events SET payload = jsonb_pretty(payload::jsonb)::json"
                " WHERE task_id = $1",
                ids[1],
            )
        result = await verify(settings)
        archive = next(t for t in result.tables if t.table == "task_events")
        assert archive.differences == 0 and archive.live_rows > 0, differences(result)
        shown = [d for t in result.tables for d in t.shown]
        assert any(
            d.table == "tasks" and d.kind == "changed" and d.key == {"id": ids[0]}
            and set(d.columns) == {"priority"}
            for d in shown
        ), differences(result)  # fmt: skip
        assert result.differences >= 1
    finally:
        # Put the row back as the log says it is.
        await conn.execute(
            "UPDATE tasks SET priority = (state->>'priority')::smallint WHERE id = $1", ids[0]
        )
        await conn.close()


async def test_a_rebuild_that_stops_keeps_its_shadow_and_resumes_to_the_same_model(
    stack: dict[str, Any],
) -> None:
    settings = stack_settings(stack)
    await wait_terminal(stack["postgres_dsn"], await traffic(stack, 2, 40))
    schema = f"replay_resume_{uuid.uuid4().hex[:8]}"
    replay = ReplaySettings(replay_batch_size=100, replay_workers=1)
    reports = 0

    def stop_on_the_third_report(name: str, done: int, total: int) -> None:
        nonlocal reports
        reports += 1
        if reports == 3:
            raise RuntimeError("stopped on purpose")

    with pytest.raises(RuntimeError) as caught:
        await rebuild_postgres(
            settings, replay=replay, schema=schema, progress=stop_on_the_third_report
        )
    # It says what is kept and how to go on.
    assert resume_command(schema) in " ".join(caught.value.__notes__)
    applied = await shadow_progress(stack["postgres_dsn"], schema)
    assert applied is not None and applied >= 200

    report = await rebuild_postgres(settings, replay=replay, resume=schema)
    assert report.switched and report.schema == schema
    assert report.resumed_from == applied
    assert await shadow_progress(stack["postgres_dsn"], schema) is None  # switched and gone
    result = await verify(settings)
    assert result.differences == 0, differences(result)


async def _indexes(dsn: str, schema: str | None = None) -> dict[str, tuple[str, int]]:
    """Each index of `schema` (the live one when None): its table and its oid."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT ci.relname AS name, t.relname AS tab, ci.oid FROM pg_index i"
            " JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = ci.relnamespace"
            " WHERE n.nspname = coalesce($1, current_schema())",
            schema,
        )
        return {r["name"]: (r["tab"], r["oid"]) for r in rows}
    finally:
        await conn.close()


async def test_a_rebuild_resumed_after_its_bulk_load_keeps_the_indexes_it_built(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack_settings(stack)
    await wait_terminal(stack["postgres_dsn"], await traffic(stack, 1, 40))
    schema = f"replay_after_bulk_{uuid.uuid4().hex[:8]}"
    replay = ReplaySettings(replay_batch_size=100, replay_workers=1)

    async def stop(self: Replayer) -> None:
        raise RuntimeError("stopped after the bulk load")

    monkeypatch.setattr(Replayer, "follow", stop)
    with pytest.raises(RuntimeError, match="after the bulk load"):
        await rebuild_postgres(settings, replay=replay, schema=schema)
    monkeypatch.undo()
    built = await _indexes(stack["postgres_dsn"], schema)
    assert "tasks_tenant_created" in built  # the bulk load had built its indexes again

    report = await rebuild_postgres(settings, replay=replay, resume=schema)
    assert report.switched and report.resumed_from > 0
    live = await _indexes(stack["postgres_dsn"])
    # Not dropped and built a second time: the switched tables carry the same indexes.
    swapped = {name: it for name, it in built.items() if it[0] in report.swapped}
    assert swapped and all(live[name] == it for name, it in swapped.items())
    result = await verify(settings)
    assert result.differences == 0, differences(result)


async def test_resume_names_a_shadow_that_exists(stack: dict[str, Any]) -> None:
    with pytest.raises(NoSuchShadow, match="no rebuild's shadow schema"):
        await rebuild_postgres(stack_settings(stack), resume="replay_never_made")
    with pytest.raises(NoSuchShadow, match="not a plain schema"):
        await rebuild_postgres(stack_settings(stack), resume='x"; DROP TABLE tasks; --')
    # The live model has checkpoints too, but is no shadow: it is never rebuilt in place.
    with pytest.raises(NoSuchShadow, match="no rebuild's shadow schema"):
        await rebuild_postgres(stack_settings(stack), resume="public")
    # Search on Postgres full text is the Postgres rebuild, --resume included.
    with pytest.raises(NoSuchShadow, match="no rebuild's shadow schema"):
        await rebuild_search_target(stack_settings(stack), resume="replay_never_made")
