"""Queue counters and statistics on the live stack: exact after mixed outcomes, rebuilt
after corruption (projector restart, lost change), and the API answering with Redis down."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.counters import CounterDelta, field_name
from projections.redis_counters import apply_delta, keys_for, rebuild_counters_for
from taskstream.producer import CommandProducer, make_command
from taskstream.settings import Settings
from tests.integration.helpers import api, eventually
from tests.integration.queue_api import (
    api_counts,
    fresh_tenant,
    pg_counts,
    redis_counts,
    service_pid,
    submit_as,
    tenant_app,
)

pytestmark = pytest.mark.integration

IDLE = "cnt-idle"  # no worker consumes it: its tasks stay pending
LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def echo(**extra: Any) -> dict[str, Any]:
    return {"type": "demo.echo", "payload": {"n": 1}, **extra}


async def queues_of(app: dict[str, Any], tenant: str) -> tuple[dict[str, Any], str]:
    async with app["client"](tenant) as client:
        resp = await client.get("/v1/queues")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body, resp.headers["Taskstream-Counts-Source"]


async def settled(app: dict[str, Any], tenant: str, want: dict[str, int]) -> dict[str, Any]:
    """Wait until the API counts `want` from Redis and Postgres agrees; the body."""

    async def probe() -> dict[str, Any] | None:
        body, source = await queues_of(app, tenant)
        if source != "redis" or api_counts(body) != want:
            return None
        assert await pg_counts(app["pool"], tenant) == want
        return body

    found: dict[str, Any] = await eventually(probe, timeout=120, every=0.25)
    return found


async def cancel_as(stack: dict[str, Any], tenant: str, task_ids: list[str]) -> None:
    producer = CommandProducer(Settings(kafka_bootstrap=stack["kafka_bootstrap"]))
    await producer.start()
    try:
        reason = {"reason": "test over"}
        await producer.append_many(
            [make_command("task.cancel", t, reason, tenant=tenant) for t in task_ids]
        )
    finally:
        await producer.stop()


async def test_counts_and_stats_match_postgres_after_mixed_outcomes(stack: dict[str, Any]) -> None:
    tenant = fresh_tenant()
    began = datetime.now(UTC)
    fast = {"backoff_base_seconds": 0.2, "backoff_max_seconds": 0.5}
    bodies = [
        *(echo() for _ in range(6)),
        *({"type": "demo.fail", "payload": {"failures": 1}, "max_attempts": 3, **fast}
          for _ in range(2)),
        *({"type": "demo.fail", "payload": {"failures": 9}, "max_attempts": 2, **fast}
          for _ in range(2)),
        *(echo(run_at=LATER) for _ in range(3)),
        *(echo(queue=IDLE, priority=p) for p in (1, 1, 8, 8)),
    ]  # fmt: skip
    await submit_as(stack, tenant, bodies)
    sleep = {"type": "demo.sleep", "payload": {"seconds": 90}}
    (sleeper,) = await submit_as(stack, tenant, [sleep])
    want = {
        field_name("default", 5, "scheduled"): 3,
        field_name("default", 5, "running"): 1,
        field_name("default", 5, "dead"): 2,
        field_name(IDLE, 1, "pending"): 2,
        field_name(IDLE, 8, "pending"): 2,
    }
    async with tenant_app(stack) as app:
        try:
            body = await settled(app, tenant, want)
            by_name = {q["queue"]: q for q in body["queues"]}
            idle = by_name[IDLE]["counts"]
            assert idle == {"pending": 4, "scheduled": 0, "running": 0, "dead": 0}
            assert [p["priority"] for p in by_name[IDLE]["by_priority"]] == [8, 1]
            assert by_name["default"]["paused"] is False
            assert by_name["default"]["concurrency_limit"] is None
            async with app["client"](tenant) as client:
                one = await client.get(f"/v1/queues/{IDLE}")
                assert one.status_code == 200 and one.json()["counts"]["pending"] == 4
                params = {"since": (began - timedelta(minutes=2)).isoformat(), "bucket": "1h"}
                stats = (await client.get("/v1/queues/default/stats", params=params)).json()
                idle_stats = (await client.get(f"/v1/queues/{IDLE}/stats", params=params)).json()
            totals = stats["totals"]
            assert {k: totals[k] for k in ("submitted", "started", "succeeded", "retried")} == {
                "submitted": 14, "started": 15, "succeeded": 8, "retried": 4
            }  # fmt: skip
            assert (totals["failed"], totals["dead_lettered"], totals["cancelled"]) == (6, 2, 0)
            assert totals["success_rate"] == pytest.approx(8 / 14)
            assert totals["run_seconds"]["count"] == 14 and totals["run_seconds"]["p50"] > 0
            assert totals["wait_seconds"]["count"] == 15 and totals["wait_seconds"]["avg"] >= 0
            assert sum(b["submitted"] for b in stats["buckets"]) == 14
            assert idle_stats["totals"]["submitted"] == 4
            assert idle_stats["totals"]["started"] == 0
        finally:
            await cancel_as(stack, tenant, [sleeper])
        del want[field_name("default", 5, "running")]
        await settled(app, tenant, want)  # the cancel moved the task out of `running`


async def test_a_restarted_projector_recomputes_corrupted_counters(stack: dict[str, Any]) -> None:
    tenant = fresh_tenant()
    await submit_as(stack, tenant, [echo(run_at=LATER), echo(run_at=LATER), echo(queue=IDLE)])
    want = {field_name("default", 5, "scheduled"): 2, field_name(IDLE, 5, "pending"): 1}
    async with tenant_app(stack) as app:
        await settled(app, tenant, want)
        key = keys_for(app["settings"].topic_prefix).counts(tenant)
        await app["redis"].hset(key, field_name("default", 5, "scheduled"), 999)
        await app["redis"].hset(key, field_name("ghost", 3, "pending"), 5)
        shown = (await queues_of(app, tenant))[0]["queues"]
        assert "ghost" in {q["queue"] for q in shown}  # the corruption is visible
        before = service_pid(stack, "projector")
        os.kill(before, signal.SIGKILL)
        await eventually(lambda: _changed(stack, "projector", before), timeout=60)
        await settled(app, tenant, want)
        assert await redis_counts(app["redis"], app["settings"], tenant) == want


async def test_a_lost_change_is_detected_and_the_counters_rebuilt(stack: dict[str, Any]) -> None:
    tenant = fresh_tenant()
    await submit_as(stack, tenant, [echo(queue=IDLE), echo(queue=IDLE, priority=9)])
    want = {field_name(IDLE, 5, "pending"): 1, field_name(IDLE, 9, "pending"): 1}
    async with tenant_app(stack) as app:
        await settled(app, tenant, want)
        keys = keys_for(app["settings"].topic_prefix)
        redis = app["redis"]
        # As if a batch's change never reached Redis: its count and its offsets are missing.
        await redis.hset(keys.counts(tenant), field_name(IDLE, 9, "pending"), 0)
        for partition, offset in (await redis.hgetall(keys.applied)).items():
            if int(offset) >= 0:
                await redis.hset(keys.applied, partition, int(offset) - 1)
        await submit_as(stack, tenant, [echo(queue=IDLE, priority=9)])
        want[field_name(IDLE, 9, "pending")] = 2
        await settled(app, tenant, want)


async def test_the_api_answers_from_postgres_while_redis_is_down(stack: dict[str, Any]) -> None:
    tenant = fresh_tenant()
    await submit_as(stack, tenant, [echo(queue=IDLE), echo(queue=IDLE)])
    want = {field_name(IDLE, 5, "pending"): 2}
    valkey = service_pid(stack, "valkey")
    async with tenant_app(stack) as app, api(stack) as dev:
        await settled(app, tenant, want)
        os.kill(valkey, signal.SIGSTOP)  # connections hang: the timeout path
        try:
            resp = await dev.get("/v1/queues")
            assert resp.status_code == 200, resp.text
            assert resp.headers["Taskstream-Counts-Source"] == "postgres"
            assert resp.json()["counts_source"] == "postgres"
            body, source = await queues_of(app, tenant)
            assert source == "postgres" and api_counts(body) == want
            await submit_as(stack, tenant, [echo(queue=IDLE, priority=2)])
            want[field_name(IDLE, 2, "pending")] = 1

            async def counted_in_postgres() -> bool:
                body, source = await queues_of(app, tenant)
                return source == "postgres" and api_counts(body) == want

            await eventually(counted_in_postgres, timeout=60)
        finally:
            os.kill(valkey, signal.SIGCONT)
        # Back: the projector rebuilds what it could not write meanwhile.
        await settled(app, tenant, want)
        # Killed: the supervisor restarts it empty; the projector fills it again.
        os.kill(valkey, signal.SIGKILL)
        await eventually(lambda: _changed(stack, "valkey", valkey), timeout=60)
        await settled(app, tenant, want)
        assert await app["redis"].ping()
        resp = await dev.get("/v1/queues")
        assert resp.status_code == 200


async def _changed(stack: dict[str, Any], name: str, old_pid: int) -> bool:
    try:
        pid = service_pid(stack, name)
    except (OSError, ValueError, KeyError):
        return False
    if pid == old_pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_script_applies_each_change_once_and_reports_what_is_wrong(
    stack: dict[str, Any],
) -> None:
    keys = keys_for(f"scratch-{fresh_tenant()}")  # a key space of its own
    async with tenant_app(stack) as app:
        redis = app["redis"]
        first = CounterDelta({("t", "q|5|pending"): 2}, {0: (-1, 10), 1: (4, 7)})
        assert await apply_delta(redis, keys, first) == "missing"  # never built
        await redis.hset(keys.applied, mapping={"0": -1, "1": 4})
        assert await apply_delta(redis, keys, first) == "applied"
        assert await apply_delta(redis, keys, first) == "duplicate"  # sent twice
        lost = CounterDelta({("t", "q|5|pending"): -1}, {0: (12, 15)})  # 10..12 never came
        assert await apply_delta(redis, keys, lost) == "gap"
        drop = CounterDelta({("t", "q|5|pending"): -3}, {1: (7, 9)})
        assert await apply_delta(redis, keys, drop) == "negative"  # applied, but impossible
        assert await redis.hgetall(keys.counts("t")) == {b"q|5|pending": b"-1"}
        assert await redis.hgetall(keys.applied) == {b"0": b"10", b"1": b"9"}
        await redis.delete(keys.applied, keys.seq, keys.tenants, keys.counts("t"))


async def test_rebuild_counters_installs_postgres_counts(stack: dict[str, Any]) -> None:
    tenant = fresh_tenant()
    await submit_as(stack, tenant, [echo(queue=IDLE, priority=3), echo(run_at=LATER)])
    want = {field_name(IDLE, 3, "pending"): 1, field_name("default", 5, "scheduled"): 1}
    async with tenant_app(stack) as app:
        await settled(app, tenant, want)
        keys = keys_for(app["settings"].topic_prefix)
        await app["redis"].hset(keys.counts(tenant), mapping={field_name("x", 1, "dead"): 3})
        result = await rebuild_counters_for(app["settings"], app["pool"])
        assert result.tasks >= 2 and result.tenants >= 1
        assert set(result.checkpoints) >= set(range(app["settings"].partitions))
        assert await redis_counts(app["redis"], app["settings"], tenant) == want
