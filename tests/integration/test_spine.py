"""The spine end to end on the embedded stack: submit → schedule → dispatch → run → record."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from taskstream.audit import audit
from taskstream.settings import Settings
from tests.integration.helpers import api, events, submit_many, task, wait_terminal

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def test_a_thousand_tasks_over_rest_all_succeed(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        bodies = [{"type": "demo.echo", "payload": {"n": i}} for i in range(1000)]
        ids = await submit_many(client, bodies)
        final = await wait_terminal(stack["postgres_dsn"], ids, timeout=180)
        assert len(final) == 1000
        assert set(final.values()) == {"succeeded"}
        sample = await task(client, ids[123])
        assert sample["result"] == {"n": 123}
        assert [a["number"] for a in sample["attempts"]] == [1]


async def test_failing_task_succeeds_on_attempt_four_with_backoff_recorded(
    stack: dict[str, Any],
) -> None:
    async with api(stack) as client:
        body = {
            "type": "demo.fail",
            "payload": {"failures": 3},
            "max_attempts": 5,
            "backoff_base_seconds": 0.2,
        }
        (tid,) = await submit_many(client, [body])
        await wait_terminal(stack["postgres_dsn"], [tid], timeout=90)
        t = await task(client, tid)
        assert t["status"] == "succeeded"
        assert [a["outcome"] for a in t["attempts"]] == ["failed"] * 3 + ["succeeded"]
        failed = [e for e in await events(client, tid) if e["type"] == "attempt.failed"]
        assert [e["payload"]["attempt"] for e in failed] == [1, 2, 3]
        for e in failed:
            gap = datetime.fromisoformat(e["payload"]["retry_at"]) - datetime.fromisoformat(
                e["payload"]["finished_at"]
            )
            assert gap.total_seconds() == pytest.approx(e["payload"]["backoff_seconds"], abs=1e-3)
            assert 0 <= e["payload"]["backoff_seconds"] <= 0.2 * 2 ** (e["payload"]["attempt"] - 1)
        # the next attempt did not start before its retry time
        starts = {a["number"]: datetime.fromisoformat(a["started_at"]) for a in t["attempts"]}
        for e in failed:
            assert starts[e["payload"]["attempt"] + 1] >= datetime.fromisoformat(
                e["payload"]["retry_at"]
            )


async def test_task_that_keeps_failing_is_dead_with_every_error(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        body = {
            "type": "demo.fail",
            "payload": {"failures": 99},
            "max_attempts": 3,
            "backoff_base_seconds": 0.1,
        }
        (tid,) = await submit_many(client, [body])
        final = await wait_terminal(stack["postgres_dsn"], [tid], timeout=90)
        assert final[tid] == "dead"
        t = await task(client, tid)
        assert len(t["attempts"]) == 3
        assert all(a["error"] and "fail" in a["error"].lower() for a in t["attempts"])
        assert all(a["traceback"] for a in t["attempts"])
        types = [e["type"] for e in await events(client, tid)]
        assert types.count("attempt.failed") == 2 and types[-1] == "task.dead_lettered"


def _worker(stack: dict[str, Any], queue: str, concurrency: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TASKSTREAM_KAFKA_BOOTSTRAP": stack["kafka_bootstrap"],
        "TASKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = Path(stack["data_dir"]) / f"test-worker-{queue}.log"
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "taskstream", "worker"),
            *("--queues", queue, "--concurrency", str(concurrency)),
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


async def test_cancelled_pending_task_never_runs(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        # No worker serves this queue yet: the task waits, pending, in the scheduler.
        (tid,) = await submit_many(client, [{"type": "demo.echo", "queue": "cancel-me"}])
        (other,) = await submit_many(client, [{"type": "demo.echo", "queue": "cancel-me"}])
        await asyncio.sleep(1.0)
        resp = await client.post(f"/v1/tasks/{tid}/cancel", json={"reason": "test"})
        assert resp.status_code == 202, resp.text
        final = await wait_terminal(stack["postgres_dsn"], [tid], timeout=30)
        assert final[tid] == "cancelled"
        worker = _worker(stack, "cancel-me", 2)
        try:
            await wait_terminal(stack["postgres_dsn"], [other], timeout=60)
        finally:
            _stop(worker)
        t = await task(client, tid)
        assert t["status"] == "cancelled" and t["attempts"] == []
        types = [e["type"] for e in await events(client, tid)]
        assert "task.dispatched" not in types and "attempt.started" not in types


async def test_priority_nine_overtakes_a_saturated_queue(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        low = [{"type": "demo.sleep", "queue": "prio", "priority": 1, "payload": {"seconds": 0.05}}]
        low_ids = await submit_many(client, low * 200, concurrency=8)
        (high,) = await submit_many(
            client,
            [{"type": "demo.sleep", "queue": "prio", "priority": 9, "payload": {"seconds": 0.05}}],
        )
        worker = _worker(stack, "prio", 4)
        try:
            await wait_terminal(stack["postgres_dsn"], [*low_ids, high], timeout=180)
        finally:
            _stop(worker)
        high_start = (await task(client, high))["attempts"][0]["started_at"]
        starts = []
        for tid in low_ids:
            starts.append((await task(client, tid))["attempts"][0]["started_at"])
        later = sum(1 for s in starts if s > high_start)
        assert later >= 150, f"the priority-9 task started before only {later} of 200"


async def test_restarting_worker_and_scheduler_mid_run_loses_no_task(
    stack: dict[str, Any],
) -> None:
    from taskstream.stack.state import read_stack

    async with api(stack) as client:
        bodies = [{"type": "demo.sleep", "payload": {"seconds": 0.02}} for _ in range(600)]
        ids = await submit_many(client, bodies)
        info = read_stack(Path(stack["data_dir"]))
        os.kill(info["services"]["worker"]["pid"], signal.SIGKILL)
        await asyncio.sleep(2)
        os.kill(info["services"]["scheduler"]["pid"], signal.SIGTERM)
        final = await wait_terminal(stack["postgres_dsn"], ids, timeout=240)
        assert set(final.values()) == {"succeeded"}, {
            s: sum(1 for v in final.values() if v == s) for s in set(final.values())
        }
    # Every command written through the restarts had its effect (none lost on the way).
    report = await audit(Settings(kafka_bootstrap=stack["kafka_bootstrap"]), settle_seconds=15)
    assert report.ok, report.lost[:5]
