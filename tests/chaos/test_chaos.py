"""Chaos on the embedded stack: 2,000 mixed tasks while workers, the scheduler and the
projector are SIGKILLed; every task ends exactly once, no command is lost, duplicate
executions stay bounded by the kills, and a per-second schedule fires every second once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from taskstream.domain import events as e
from tests.chaos.run import TERMINAL_EVENTS, Outcome, Plan, execute, prepare

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

EXPECTED = {"instant": "succeeded", "sleep": "succeeded", "flaky": "succeeded", "doomed": "dead"}


async def _schedule(client: httpx.AsyncClient) -> str:
    body = {
        "cron": "* * * * * *",
        "misfire": "fire_all",
        "template": {"type": "chaos.step", "payload": {}, "queue": "cron-chaos"},
    }
    resp = await client.post("/v1/schedules", json=body)
    assert resp.status_code == 202, resp.text
    sid: str = resp.json()["id"]
    return sid


async def _fires(dsn: str, sid: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM task_events WHERE task_id = $1 AND type = 'schedule.fired'"
            " ORDER BY version",
            sid,
        )
    finally:
        await conn.close()
    return [json.loads(r["payload"]) for r in rows]


async def _finish_schedule(stack: dict[str, Any], client: httpx.AsyncClient, out: Outcome) -> None:
    """Let the schedule fire a few more seconds past the kill, delete it, read its fires."""
    sid = out.schedule_id
    assert out.schedule_kill_at is not None
    deadline = time.monotonic() + 60
    while True:
        fires = await _fires(stack["postgres_dsn"], sid)
        last = max((datetime.fromisoformat(f["due_at"]) for f in fires), default=None)
        if last is not None and last.timestamp() > out.schedule_kill_at + 5:
            break
        assert time.monotonic() < deadline, f"the schedule stopped firing; last due {last}"
        await asyncio.sleep(0.5)
    assert (await client.delete(f"/v1/schedules/{sid}")).status_code == 202
    for _ in range(120):
        resp = await client.get(f"/v1/schedules/{sid}")
        if resp.status_code == 200 and resp.json()["deleted"]:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # a fire decided just before the delete may still be projecting
    out.schedule_fires = await _fires(stack["postgres_dsn"], sid)
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        deleted = await conn.fetchval(
            "SELECT occurred_at FROM task_events WHERE task_id = $1 AND type = 'schedule.deleted'",
            sid,
        )
    finally:
        await conn.close()
    out.schedule_deleted_at = deleted.timestamp()


@pytest.fixture(scope="module")
async def chaos(chaos_stack: dict[str, Any], pytestconfig: pytest.Config) -> Outcome:
    """The run every test of this module looks at from its own side."""
    started = time.monotonic()
    await prepare(chaos_stack["postgres_dsn"])
    headers = {"Authorization": f"Bearer {chaos_stack['api_key']}"}
    async with httpx.AsyncClient(
        base_url=chaos_stack["api_url"], headers=headers, timeout=60
    ) as client:
        sid = await _schedule(client)
        out = await execute(chaos_stack, Plan(), sid)
        await _finish_schedule(chaos_stack, client, out)
    out.runtime_seconds = time.monotonic() - started
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    assert capture is not None
    with capture.global_and_fixture_disabled():
        print("\n".join(out.summary()), flush=True)
    return out


def test_every_task_is_terminal_and_as_expected(chaos: Outcome) -> None:
    assert len(chaos.statuses) == len(chaos.kinds), "tasks missing from the read model"
    wrong = {
        tid: (kind, chaos.statuses.get(tid))
        for tid, kind in chaos.kinds.items()
        if chaos.statuses.get(tid) != EXPECTED[kind]
    }
    assert not wrong, list(wrong.items())[:10]


def _history_problems(tid: str, events: list[tuple[int, str, str]]) -> list[str]:
    """What is wrong with one task's events `(version, type, event id)`, in version order.

    `command.rejected` carries the current version and changes nothing; every other event
    raises the version by one, so those must be 1..n, and the last the one terminal event.
    """
    ordered = sorted((v, t) for v, t, _ in events if t != e.COMMAND_REJECTED)
    problems = []
    if [v for v, _ in ordered] != list(range(1, len(ordered) + 1)):
        problems.append(f"{tid}: versions {[v for v, _ in ordered]}")
    terminal = [t for _, t in ordered if t in TERMINAL_EVENTS]
    if len(terminal) != 1 or not ordered or ordered[-1][1] not in TERMINAL_EVENTS:
        problems.append(f"{tid}: terminal events {terminal} in {[t for _, t in ordered]}")
    return problems


def test_archive_has_one_terminal_event_per_task_and_no_forked_versions(chaos: Outcome) -> None:
    problems = [p for tid in chaos.kinds for p in _history_problems(tid, chaos.archive[tid])]
    assert not problems, problems[:10]


def test_log_has_one_terminal_event_per_task_and_no_forked_versions(chaos: Outcome) -> None:
    problems = []
    for tid in chaos.kinds:
        events = [(v, t, eid) for eid, (v, t) in chaos.log.get(tid, {}).items()]
        problems += _history_problems(tid, events)
    assert not problems, problems[:10]


def test_every_command_had_its_effect(chaos: Outcome) -> None:
    report = chaos.audit
    assert report is not None
    assert report.commands > 0 and report.with_effect > 0
    assert report.ok, [(m.type, m.task_id, m.partition, m.offset) for m in report.lost[:20]]


def test_duplicate_executions_are_bounded_by_the_kills(chaos: Outcome) -> None:
    reported = chaos.reported_attempts()
    unexecuted = [a for a in reported if chaos.executions[a] == 0]
    assert not unexecuted, f"attempts reported without an execution: {unexecuted[:10]}"
    duplicates = chaos.duplicates()
    bound = chaos.worker_kills * chaos.plan.concurrency + chaos.scheduler_kill_allowance()
    assert len(duplicates) <= bound, (len(duplicates), bound, duplicates[:20])


def test_per_second_schedule_fires_every_due_second_once(chaos: Outcome) -> None:
    fires = chaos.schedule_fires
    dues = [datetime.fromisoformat(f["due_at"]) for f in fires]
    assert dues, "the schedule never fired"
    counts = Counter(dues)
    assert max(counts.values()) == 1, [d for d, n in counts.items() if n > 1]
    assert len({f["task_id"] for f in fires}) == len(fires), "a task id fired twice"
    assert all(f["missed"] == 0 for f in fires), [f for f in fires if f["missed"]]
    first, last = min(dues), max(dues)
    every = [first + timedelta(seconds=i) for i in range(int((last - first).total_seconds()) + 1)]
    assert sorted(dues) == every, sorted(set(every) - set(dues))
    # It kept going through the kill, and up to its deletion.
    assert chaos.schedule_kill_at is not None
    assert first.timestamp() < chaos.schedule_kill_at < last.timestamp()
    assert chaos.schedule_deleted_at is not None
    assert chaos.schedule_deleted_at - last.timestamp() < 1.5
