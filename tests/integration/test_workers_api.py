"""`GET /v1/workers` on the live stack: the stack's worker with its capacity and the
attempt of a sleeping task, seen only by the task's tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.integration.helpers import api, eventually
from tests.integration.queue_api import fresh_tenant, submit_as, tenant_app
from tests.integration.test_counters import cancel_as

pytestmark = pytest.mark.integration


async def test_the_running_worker_shows_its_capacity_and_the_sleeping_attempt(
    stack: dict[str, Any],
) -> None:
    tenant, other = fresh_tenant(), fresh_tenant()
    sleep = {"type": "demo.sleep", "payload": {"seconds": 60}, "max_attempts": 1}
    (task_id,) = await submit_as(stack, tenant, [sleep])
    async with tenant_app(stack) as app:
        try:

            async def running() -> dict[str, Any] | None:
                async with app["client"](tenant) as client:
                    resp = await client.get("/v1/workers")
                assert resp.status_code == 200, resp.text
                for worker in resp.json()["workers"]:
                    mine = [a for a in worker["attempts"] if a["task_id"] == task_id]
                    if mine:
                        return {"worker": worker, "attempt": mine[0]}
                return None

            found = await eventually(running, timeout=120, every=0.5)
            worker, attempt = found["worker"], found["attempt"]
            assert worker["status"] == "up" and worker["attempts_reported"] is True
            assert worker["queues"] == ["default"]
            assert worker["capacity"] == 32  # the stack worker's --concurrency
            assert worker["in_flight"] >= 1
            assert attempt["attempt"] == 1
            assert datetime.fromisoformat(attempt["started_at"]) <= datetime.fromisoformat(
                worker["last_heartbeat"]
            )
            async with app["client"](tenant) as client:
                task = (await client.get(f"/v1/tasks/{task_id}")).json()
            assert task["status"] == "running"
            assert task["attempts"][0]["worker"] == worker["worker"]

            # Another tenant sees the worker, never the attempt.
            async with app["client"](other) as client:
                theirs = (await client.get("/v1/workers")).json()["workers"]
            same = [w for w in theirs if w["worker"] == worker["worker"]]
            assert same and all(a["task_id"] != task_id for a in same[0]["attempts"])
            # So does the stack's own API process (tenant `default`).
            async with api(stack) as dev:
                resp = await dev.get("/v1/workers")
            assert resp.status_code == 200, resp.text
            listed = {w["worker"]: w for w in resp.json()["workers"]}
            assert worker["worker"] in listed
            assert all(a["task_id"] != task_id for a in listed[worker["worker"]]["attempts"])
        finally:
            await cancel_as(stack, tenant, [task_id])
