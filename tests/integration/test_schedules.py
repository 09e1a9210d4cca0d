"""Cron schedules on the embedded stack: one task per due time, across a scheduler restart."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.helpers import api, eventually

pytestmark = pytest.mark.integration


async def _create(client: httpx.AsyncClient, **fields: Any) -> str:
    body = {"cron": "* * * * * *", "template": {"type": "demo.echo", "payload": {"s": 1}}}
    resp = await client.post("/v1/schedules", json={**body, **fields})
    assert resp.status_code == 202, resp.text
    sid: str = resp.json()["id"]
    return sid


async def _get(client: httpx.AsyncClient, sid: str) -> dict[str, Any] | None:
    resp = await client.get(f"/v1/schedules/{sid}", params={"fires": 1000})
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


async def _fired_at_least(client: httpx.AsyncClient, sid: str, n: int, timeout: float) -> int:
    async def probe() -> int | None:
        found = await _get(client, sid)
        return found["fired_count"] if found and found["fired_count"] >= n else None

    count: int = await eventually(probe, timeout=timeout)
    return count


async def _stop(client: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    """Delete the schedule, wait until the read model shows it, return its fires (oldest
    first)."""
    assert (await client.delete(f"/v1/schedules/{sid}")).status_code == 202

    async def probe() -> dict[str, Any] | None:
        found = await _get(client, sid)
        return found if found and found["deleted"] else None

    found = await eventually(probe, timeout=30)
    await asyncio.sleep(1.0)  # a fire decided before the delete may still be projecting
    final = await _get(client, sid)
    assert final is not None and final["fired_count"] == found["fired_count"]
    return list(reversed(final["recent_fires"]))


async def _tasks_of(dsn: str, sid: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM tasks WHERE state->'labels'->>'schedule_id' = $1", sid
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def _check_one_task_per_due_time(fires: list[dict[str, Any]]) -> None:
    dues = [datetime.fromisoformat(f["due_at"]) for f in fires]
    assert len({f["task_id"] for f in fires}) == len(fires), "a task id fired twice"
    for before, after, fire in zip(dues, dues[1:], fires, strict=False):
        # Every due time is fired or counted as missed by the fire before it.
        assert (after - before).total_seconds() == 1 + fire["missed"], (before, after, fire)


async def test_every_second_schedule_submits_one_task_per_second(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        sid = await _create(client)
        await _fired_at_least(client, sid, 1, timeout=60)
        await asyncio.sleep(6)
        fires = await _stop(client, sid)
        first = datetime.fromisoformat(fires[0]["due_at"])
        within = [
            f for f in fires if (datetime.fromisoformat(f["due_at"]) - first).total_seconds() < 6
        ]
        assert 5 <= len(within) <= 7, fires
        assert all(f["missed"] == 0 for f in fires), fires
        _check_one_task_per_due_time(fires)

        async def all_projected() -> list[str] | None:
            ids = await _tasks_of(stack["postgres_dsn"], sid)
            return ids if len(ids) == len(fires) else None

        ids = await eventually(all_projected, timeout=60)
        assert sorted(ids) == sorted(f["task_id"] for f in fires)


async def test_scheduler_restart_fires_each_due_time_once(stack: dict[str, Any]) -> None:
    from taskstream.stack.state import read_stack

    async with api(stack) as client:
        sid = await _create(client, misfire="fire_once")
        before = await _fired_at_least(client, sid, 2, timeout=60)
        pid = read_stack(Path(stack["data_dir"]))["services"]["scheduler"]["pid"]
        os.kill(pid, signal.SIGTERM)
        # Back after the supervisor restarts it and the partition is rebuilt.
        await _fired_at_least(client, sid, before + 4, timeout=120)
        fires = await _stop(client, sid)
        _check_one_task_per_due_time(fires)

        async def all_projected() -> list[str] | None:
            ids = await _tasks_of(stack["postgres_dsn"], sid)
            return ids if len(ids) == len(fires) else None

        ids = await eventually(all_projected, timeout=60)
        assert sorted(ids) == sorted(f["task_id"] for f in fires)


async def test_pause_resume_delete_and_validation_over_rest(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        bad = await client.post(
            "/v1/schedules", json={"cron": "* * * * * * *", "template": {"type": "demo.echo"}}
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cron"
        sid = await _create(client, paused=True)
        found = await eventually(lambda: _get(client, sid), timeout=30)
        assert found["paused"] and found["next_due_at"]
        await asyncio.sleep(2)
        found = await _get(client, sid)
        assert found is not None and found["fired_count"] == 0
        assert (await client.post(f"/v1/schedules/{sid}/resume")).status_code == 202
        await _fired_at_least(client, sid, 1, timeout=30)
        assert (await client.post(f"/v1/schedules/{sid}/pause")).status_code == 202

        async def paused() -> dict[str, Any] | None:
            now = await _get(client, sid)
            return now if now and now["paused"] else None

        held = await eventually(paused, timeout=30)
        await asyncio.sleep(2)
        still = await _get(client, sid)
        assert still is not None and still["fired_count"] == held["fired_count"]
        listed = (await client.get("/v1/schedules", params={"limit": 500})).json()["items"]
        assert sid in [s["id"] for s in listed]
        await _stop(client, sid)
        listed = (await client.get("/v1/schedules", params={"limit": 500})).json()["items"]
        assert sid not in [s["id"] for s in listed]
        assert (await client.get("/v1/schedules/sch_unknown")).status_code == 404
