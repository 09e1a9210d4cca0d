"""Cancelling a running task, and redriving dead ones, on the live embedded stack."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.integration.helpers import api, events, eventually, task
from tests.integration.test_spine import _worker

pytestmark = pytest.mark.integration


async def _status(client: Any, task_id: str, *wanted: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/tasks/{task_id}")
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        return body if body["status"] in wanted else None

    # Generous: on a cold, loaded machine the stack's first dispatch can take a minute.
    found: dict[str, Any] = await eventually(probe, timeout=180, every=0.1)
    return found


async def test_a_running_task_is_cancelled_within_seconds(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        body = {"type": "demo.sleep", "payload": {"seconds": 30}, "max_attempts": 3}
        task_id = (await client.post("/v1/tasks", json=body)).json()["id"]
        await _status(client, task_id, "running")
        asked = time.monotonic()
        resp = await client.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "too slow"})
        assert resp.status_code == 202, resp.text
        done = await _status(client, task_id, "cancelled")
        # A measurement, not a target (those live in benchmarks): the sleep would take 30 s.
        print(f"cancel-to-cancelled (as the read model shows it): {time.monotonic() - asked:.2f} s")
        # The worker stopped the handler: a 30 s sleep that ended on its own would say so.
        (attempt,) = done["attempts"]
        assert attempt["outcome"] == "cancelled" and attempt["finished_at"] is not None
        types = [e["type"] for e in await events(client, task_id)]
        assert types[-2:] == ["task.cancel_requested", "task.cancelled"]
        requested, cancelled = (await events(client, task_id))[-2:]
        assert cancelled["payload"]["attempt_outcome"] == "cancelled"
        assert cancelled["payload"]["reason"] == "too slow"
        stop = datetime.fromisoformat(cancelled["occurred_at"])
        ask = datetime.fromisoformat(requested["occurred_at"])
        print(
            f"cancel_requested -> cancelled (scheduler clock): {(stop - ask).total_seconds():.3f} s"
        )


async def test_a_dead_task_redriven_over_rest_succeeds_with_its_history(
    stack: dict[str, Any],
) -> None:
    async with api(stack) as client:
        # Attempts 1 and 2 fail (the first series), attempt 3 (the redrive's first) succeeds.
        body = {
            "type": "demo.fail",
            "payload": {"failures": 2},
            "max_attempts": 2,
            "backoff_base_seconds": 0.05,
        }
        task_id = (await client.post("/v1/tasks", json=body)).json()["id"]
        dead = await _status(client, task_id, "dead")
        assert [a["outcome"] for a in dead["attempts"]] == ["failed", "failed"]

        listed = await client.get("/v1/dlq", params={"type": "demo.fail", "limit": 500})
        assert listed.status_code == 200, listed.text
        mine = [t for t in listed.json()["items"] if t["id"] == task_id]
        assert mine and mine[0]["attempts"][0]["error"].startswith("RuntimeError")
        assert mine[0]["attempts"][0]["traceback"]

        resp = await client.post("/v1/dlq/redrive", json={"ids": [task_id, "no-such-task"]})
        assert resp.status_code == 202, resp.text
        assert resp.json()["ids"] == [task_id]
        assert resp.json()["not_found"] == ["no-such-task"]

        done = await _status(client, task_id, "succeeded")
        assert [a["number"] for a in done["attempts"]] == [1, 2, 3]
        assert [a["outcome"] for a in done["attempts"]] == ["failed", "failed", "succeeded"]
        assert done["redrives"] == 1 and done["result"] == {"attempt": 3}
        types = [e["type"] for e in await events(client, task_id)]
        assert "task.dead_lettered" in types and "task.redriven" in types


async def test_redrive_of_one_task_and_of_a_task_that_is_not_dead(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        body = {"type": "demo.fail", "payload": {"failures": 5}, "max_attempts": 1}
        task_id = (await client.post("/v1/tasks", json=body)).json()["id"]
        await _status(client, task_id, "dead")
        resp = await client.post(f"/v1/tasks/{task_id}/redrive", json={"reason": "again"})
        assert resp.status_code == 202, resp.text

        # It dies again (attempt 2 of 5 failures), with both attempts kept.
        async def dead_twice() -> dict[str, Any] | None:
            t = await task(client, task_id)
            return t if t["status"] == "dead" and len(t["attempts"]) == 2 else None

        again = await eventually(dead_twice, timeout=60)
        assert again["redrives"] == 1

        ok = (await client.post("/v1/tasks", json={"type": "demo.echo"})).json()["id"]
        await _status(client, ok, "succeeded")
        resp = await client.post(f"/v1/tasks/{ok}/redrive")
        assert resp.status_code == 202, resp.text

        async def rejected() -> bool:
            return any(
                e["type"] == "command.rejected" and "only a dead task" in e["payload"]["reason"]
                for e in await events(client, ok)
            )

        assert await eventually(rejected, timeout=30)


async def test_a_worker_killed_mid_cancel_leaves_the_task_cancelled(stack: dict[str, Any]) -> None:
    queue = f"cancel-kill-{uuid.uuid4().hex[:8]}"
    worker = _worker(stack, queue, 1)
    try:
        async with api(stack) as client:
            body = {"type": "demo.sleep", "payload": {"seconds": 120}, "queue": queue}
            task_id = (await client.post("/v1/tasks", json=body)).json()["id"]
            await _status(client, task_id, "running")
            worker.kill()  # no report, no more heartbeats: only the lease can end the attempt
            worker.wait()
            resp = await client.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "gone"})
            assert resp.status_code == 202, resp.text
            done = await _status(client, task_id, "cancelled")
            assert done["attempts"][0]["outcome"] == "timed_out"
            last = (await events(client, task_id))[-1]
            assert last["type"] == "task.cancelled" and last["payload"]["cause"] == "lease"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
