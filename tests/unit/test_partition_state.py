"""The scheduler's per-partition indexes, driven by real events from the domain."""

from __future__ import annotations

from datetime import timedelta

from streams.scheduler.partition import PartitionState, Timing
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import decide
from tests.unit.scenario import T0, command

TIMING = Timing(dispatch_timeout=30, lease=10)


def _feed(ps: PartitionState, cmd: Envelope, at: float = 0.0) -> list[Envelope]:
    now = T0 + timedelta(seconds=at)
    events = decide(ps.tasks.get(cmd.task_id), cmd, now)
    for event in events:
        ps.apply(event, now.timestamp())
    return events


def _submit(ps: PartitionState, tid: str, priority: int, at: float = 0.0, **extra: object) -> None:
    payload = {"type": "x", "priority": priority, **extra}
    _feed(ps, command("task.submit", payload, task_id=tid, cid=f"s-{tid}"), at)


def test_ready_tasks_pop_by_priority_then_age() -> None:
    ps = PartitionState(0, TIMING)
    _submit(ps, "low-old", 1, at=0)
    _submit(ps, "high", 9, at=2)
    _submit(ps, "low-new", 1, at=1)
    order = []
    while (task := ps.pop_ready("default")) is not None:
        order.append(task.id)
    assert order == ["high", "low-old", "low-new"]


def test_inflight_counts_dispatched_and_running_until_finished() -> None:
    ps = PartitionState(0, TIMING)
    _submit(ps, "a", 5)
    _feed(ps, command("task.dispatch", {"dispatch_id": "d1"}, task_id="a", cid="x1"))
    assert ps.inflight_count("default") == 1
    start = {"attempt": 1, "dispatch_id": "d1", "worker": "w"}
    _feed(ps, command("attempt.start", start, task_id="a", cid="x2"))
    assert ps.inflight_count("default") == 1
    _feed(ps, command("attempt.succeed", {"attempt": 1, "worker": "w"}, task_id="a", cid="x3"))
    assert ps.inflight_count("default") == 0


def test_run_at_timer_comes_due_at_its_time() -> None:
    ps = PartitionState(0, TIMING)
    _submit(ps, "later", 5, run_at=(T0 + timedelta(seconds=60)).isoformat())
    assert ps.due_timers((T0 + timedelta(seconds=59)).timestamp()) == []
    (timer,) = ps.due_timers((T0 + timedelta(seconds=60)).timestamp())
    assert (timer.task_id, timer.kind) == ("later", "run_at")


def test_heartbeat_pushes_the_lease_out() -> None:
    ps = PartitionState(0, TIMING)
    _submit(ps, "a", 5)
    _feed(ps, command("task.dispatch", {"dispatch_id": "d1"}, task_id="a", cid="x1"))
    start = {"attempt": 1, "dispatch_id": "d1", "worker": "w"}
    _feed(ps, command("attempt.start", start, task_id="a", cid="x2"), at=0)
    t0 = T0.timestamp()
    ps.extend_lease("a", 1, t0 + 8)
    assert [t.kind for t in ps.due_timers(t0 + 11)] == []  # renewed until t0 + 18
    assert [t.kind for t in ps.due_timers(t0 + 18.5)] == ["lease"]


def test_a_command_rejected_before_its_task_existed_is_remembered() -> None:
    ps = PartitionState(0, TIMING)
    early = command("task.cancel", {}, task_id="a", cid="early-cancel")
    (rejected,) = _feed(ps, early)
    assert rejected.type == "command.rejected"
    assert "early-cancel" in ps.rejected_early


def test_a_dispatch_deadline_restarts_when_folded_in_a_rebuild() -> None:
    ps = PartitionState(0, TIMING)
    events = _feed_all(ps)
    (timer,) = ps.due_timers(T0.timestamp() + 30)
    assert (timer.task_id, timer.kind) == ("a", "dispatch")
    # The same events folded 100 s later, as a restarted scheduler does: the worker's
    # start may still be waiting in the commands topic, so the deadline counts from now.
    rebuilt = PartitionState(0, TIMING)
    for event in events:
        rebuilt.apply(event, T0.timestamp() + 100)
    assert rebuilt.due_timers(T0.timestamp() + 129) == []
    assert [t.kind for t in rebuilt.due_timers(T0.timestamp() + 130)] == ["dispatch"]


def _feed_all(ps: PartitionState) -> list[Envelope]:
    events = _feed(ps, command("task.submit", {"type": "x"}, task_id="a", cid="s-a"))
    return events + _feed(ps, command("task.dispatch", {"dispatch_id": "d1"}, task_id="a", cid="x"))
