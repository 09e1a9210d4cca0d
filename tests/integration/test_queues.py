"""Queues on the embedded stack: pause and resume, a concurrency limit, restarts, type defaults.

Every assertion reads the log's archive (task_events, task_attempts) rather than timing:
a probe task on another queue of the same worker proves the worker and the scheduler are
dispatching while the paused queue's tasks wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from taskstream.stack.state import read_stack
from tests.integration.helpers import api, eventually, statuses, submit_many, wait_terminal

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _worker(
    stack: dict[str, Any], queues: str, concurrency: int, *tasks: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TASKSTREAM_KAFKA_BOOTSTRAP": stack["kafka_bootstrap"],
        "TASKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = Path(stack["data_dir"]) / f"test-worker-{queues.replace(',', '+')}.log"
    modules = [arg for module in tasks for arg in ("--tasks", module)]
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "taskstream", "worker", *modules),
            *("--queues", queues, "--concurrency", str(concurrency)),
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _queue_action(
    client: httpx.AsyncClient, method: str, queue: str, verb: str, **body: Any
) -> None:
    resp = await client.request(method, f"/v1/queues/{queue}/{verb}", json=body or None)
    assert resp.status_code == 202, resp.text


async def _setting(dsn: str, queue: str, *, paused: bool, limit: int | None) -> None:
    """Wait until the queue's settings are projected (the scheduler decided them first)."""

    async def probe() -> bool:
        rows = await _fetch(
            dsn,
            "SELECT paused, concurrency_limit FROM queue_settings"
            " WHERE tenant = 'default' AND queue = $1",
            queue,
        )
        return bool(rows) and (rows[0]["paused"], rows[0]["concurrency_limit"]) == (paused, limit)

    await eventually(probe, timeout=30)


async def _all(dsn: str, ids: list[str], status: str) -> None:
    async def probe() -> bool:
        current = await statuses(dsn, ids)
        return len(current) == len(ids) and set(current.values()) == {status}

    await eventually(probe, timeout=60)


async def _started(dsn: str, ids: list[str]) -> list[asyncpg.Record]:
    return await _fetch(
        dsn,
        "SELECT task_id, type, occurred_at FROM task_events"
        " WHERE task_id = ANY($1::text[]) AND type IN ('task.dispatched', 'attempt.started')",
        ids,
    )


async def test_a_paused_queue_starts_nothing_until_resumed(stack: dict[str, Any]) -> None:
    dsn, tag = stack["postgres_dsn"], uuid.uuid4().hex[:8]
    queue, other = f"qp-{tag}", f"qc-{tag}"
    async with api(stack) as client:
        await _queue_action(client, "POST", queue, "pause", reason="test")
        await _setting(dsn, queue, paused=True, limit=None)
        worker = _worker(stack, f"{queue},{other}", 4)
        try:
            ids = await submit_many(
                client,
                [{"type": "demo.echo", "queue": queue, "payload": {"n": i}} for i in range(8)],
            )
            # Timers keep firing while paused: delayed tasks become ready, then wait.
            ids += await submit_many(
                client, [{"type": "demo.echo", "queue": queue, "delay_seconds": 1}] * 2
            )
            (probe,) = await submit_many(client, [{"type": "demo.echo", "queue": other}])
            assert (await wait_terminal(dsn, [probe], timeout=90))[probe] == "succeeded"
            await _all(dsn, ids, "pending")
            ready = await _fetch(
                dsn,
                "SELECT count(*) AS n FROM task_events WHERE task_id = ANY($1::text[])"
                " AND type = 'task.ready'",
                ids,
            )
            assert ready[0]["n"] == 2
            assert await _started(dsn, ids) == []  # the same worker ran the probe meanwhile
            await _queue_action(client, "POST", queue, "resume")
            final = await wait_terminal(dsn, ids, timeout=90)
            # The queue's history reads like a task's.
            resp = await client.get(f"/v1/tasks/que_default:{queue}/events")
            assert resp.status_code == 200, resp.text
            assert [e["type"] for e in resp.json()["items"]] == ["queue.paused", "queue.resumed"]
        finally:
            _stop(worker)
    assert set(final.values()) == {"succeeded"}
    (resumed,) = await _fetch(
        dsn,
        "SELECT occurred_at FROM task_events WHERE task_id = $1 AND type = 'queue.resumed'",
        f"que_default:{queue}",
    )
    starts = await _started(dsn, ids)
    assert len([r for r in starts if r["type"] == "attempt.started"]) == len(ids)
    assert all(r["occurred_at"] >= resumed["occurred_at"] for r in starts)


def _max_overlap(spans: list[tuple[Any, Any]]) -> int:
    points = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans])  # ends first
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    return peak


async def test_a_limit_is_never_exceeded_in_flight(stack: dict[str, Any]) -> None:
    dsn, limit = stack["postgres_dsn"], 3
    queue = f"ql-{uuid.uuid4().hex[:8]}"
    async with api(stack) as client:
        await _queue_action(client, "PUT", queue, "limit", limit=limit)
        await _setting(dsn, queue, paused=False, limit=limit)
        worker = _worker(stack, queue, 12)  # offers four times the limit
        try:
            body = {"type": "demo.sleep", "queue": queue, "payload": {"seconds": 0.3}}
            ids = await submit_many(client, [body] * 30)
            final = await wait_terminal(dsn, ids, timeout=120)
        finally:
            _stop(worker)
    assert set(final.values()) == {"succeeded"}
    rows = await _fetch(
        dsn,
        "SELECT started_at, finished_at FROM task_attempts WHERE task_id = ANY($1::text[])",
        ids,
    )
    assert len(rows) == 30
    peak = _max_overlap([(r["started_at"], r["finished_at"]) for r in rows])
    assert peak <= limit, f"{peak} attempts ran at once; the limit is {limit}"
    assert peak == limit, f"the limit bound nothing: at most {peak} ran at once"


async def test_a_pause_survives_a_scheduler_kill(stack: dict[str, Any]) -> None:
    dsn, tag = stack["postgres_dsn"], uuid.uuid4().hex[:8]
    queue, other = f"qk-{tag}", f"qo-{tag}"
    data_dir = Path(stack["data_dir"])
    async with api(stack) as client:
        await _queue_action(client, "POST", queue, "pause")
        await _setting(dsn, queue, paused=True, limit=None)
        worker = _worker(stack, f"{queue},{other}", 4)
        try:
            ids = await submit_many(client, [{"type": "demo.echo", "queue": queue}] * 5)
            await _all(dsn, ids, "pending")
            old = (read_stack(data_dir) or {})["services"]["scheduler"]["pid"]
            os.kill(old, signal.SIGKILL)

            async def restarted() -> bool:
                info = read_stack(data_dir) or {}
                pid = info.get("services", {}).get("scheduler", {}).get("pid")
                return pid not in (None, old)

            await eventually(restarted, timeout=60)
            # The new scheduler rebuilt its partitions and dispatches: the probe ran.
            (probe,) = await submit_many(client, [{"type": "demo.echo", "queue": other}])
            assert (await wait_terminal(dsn, [probe], timeout=180))[probe] == "succeeded"
            await asyncio.sleep(1.0)  # a few more ticks of the rebuilt partitions
            assert await _started(dsn, ids) == []
            assert set((await statuses(dsn, ids)).values()) == {"pending"}
            await _queue_action(client, "POST", queue, "resume")
            final = await wait_terminal(dsn, ids, timeout=90)
        finally:
            _stop(worker)
    assert set(final.values()) == {"succeeded"}


async def test_task_type_defaults_apply_to_omitted_fields(stack: dict[str, Any]) -> None:
    dsn = stack["postgres_dsn"]
    worker = _worker(stack, "itest-typed", 2, "tests.integration.typed_tasks")
    try:
        async with api(stack) as client:
            # Once a task of the worker's queue ran, the scheduler has read its heartbeats,
            # and with them the defaults of the types it registered.
            (probe,) = await submit_many(
                client, [{"type": "itest.typed", "queue": "itest-typed", "payload": 0}]
            )
            assert (await wait_terminal(dsn, [probe], timeout=90))[probe] == "succeeded"
            omitted, explicit = await submit_many(
                client,
                [
                    {"type": "itest.typed", "payload": 1},
                    {"type": "itest.typed", "payload": 2, "priority": 2, "max_attempts": 1},
                ],
            )
            final = await wait_terminal(dsn, [omitted, explicit], timeout=90)
    finally:
        _stop(worker)
    assert set(final.values()) == {"succeeded"}
    rows = {
        r["task_id"]: r["payload"]
        for r in await _fetch(
            dsn,
            "SELECT task_id, payload::text AS payload FROM task_events"
            " WHERE task_id = ANY($1::text[]) AND type = 'task.submitted'",
            [omitted, explicit],
        )
    }
    a, b = json.loads(rows[omitted]), json.loads(rows[explicit])
    fields = ("queue", "priority", "max_attempts", "timeout_seconds", "backoff_base_seconds")
    assert [a[f] for f in fields] == ["itest-typed", 7, 4, 42, 0.25]
    assert a["defaults"]["queue"] == a["defaults"]["priority"] == "type"
    assert a["defaults"]["backoff_max_seconds"] == "global"
    assert [b[f] for f in fields] == ["itest-typed", 2, 1, 42, 0.25]
    assert "priority" not in b["defaults"] and "max_attempts" not in b["defaults"]
