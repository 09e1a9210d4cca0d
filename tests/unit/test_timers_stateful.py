"""Stateful property test: the scheduler's timers and reports with the clock as input.

Drives the real per-partition state (`PartitionState`) and `decide` the way the engine
does, with a clock that only moves when the test says so.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from streams.scheduler.partition import PartitionState, Timing
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import decide
from taskstream.domain.state import TERMINAL, Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = ("a", "b", "c")


class SchedulerClock(RuleBasedStateMachine):
    """Tasks submitted with delays, dispatched, started, reported, timed out, cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.ps = PartitionState(0, Timing(dispatch_timeout=30, lease=10))
        self.now = T0
        self.n = 0
        self.log: list[Envelope] = []

    def _cmd(self, type_: str, tid: str, payload: dict[str, object]) -> list[Envelope]:
        self.n += 1
        cmd = Envelope(
            event_id=f"c{self.n}", type=type_, task_id=tid, occurred_at=self.now, payload=payload
        )
        out = decide(self.ps.tasks.get(tid), cmd, self.now, draw=0.5)
        for event in out:
            self.ps.apply(event, self.now.timestamp())
        self.log.extend(out)
        return out

    @rule(tid=st.sampled_from(TASKS), delay=st.floats(0, 120), attempts=st.integers(1, 3))
    def submit(self, tid: str, delay: float, attempts: int) -> None:
        run_at = (self.now + timedelta(seconds=delay)).isoformat()
        self._cmd("task.submit", tid, {"type": "x", "run_at": run_at, "max_attempts": attempts})

    @rule(seconds=st.floats(0.01, 90))
    def clock_moves_and_timers_fire(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for timer in self.ps.due_timers(self.now.timestamp()):
            payload = {"kind": timer.kind, "attempt": timer.attempt}
            self._cmd("timer.fire", timer.task_id, payload)

    @rule(tid=st.sampled_from(TASKS))
    def dispatch(self, tid: str) -> None:
        self._cmd("task.dispatch", tid, {"dispatch_id": f"d{self.n}"})

    @rule(tid=st.sampled_from(TASKS), fresh=st.booleans())
    def worker_starts(self, tid: str, fresh: bool) -> None:
        task = self.ps.tasks.get(tid)
        d = task.dispatch if task else None
        payload = {
            "attempt": d.attempt if d else 1,
            "dispatch_id": d.dispatch_id if d and fresh else "stale",
            "worker": "w",
        }
        out = self._cmd("attempt.start", tid, payload)
        if not fresh:
            assert all(ev.type == e.COMMAND_REJECTED for ev in out)

    @rule(tid=st.sampled_from(TASKS), ok=st.booleans(), behind=st.integers(0, 2))
    def worker_reports(self, tid: str, ok: bool, behind: int) -> None:
        task = self.ps.tasks.get(tid)
        current = task.current_attempt.number if task and task.current_attempt else 1
        attempt = current - behind
        if attempt < 1:
            return
        was_running = task is not None and task.status is Status.RUNNING
        if ok:
            out = self._cmd("attempt.succeed", tid, {"attempt": attempt, "worker": "w"})
        else:
            out = self._cmd("attempt.fail", tid, {"attempt": attempt, "worker": "w", "error": "x"})
        if behind or not was_running:
            # a report for an attempt that is not the running one is refused and recorded
            assert [ev.type for ev in out] == [e.COMMAND_REJECTED]

    @precondition(lambda self: any(t.status is not Status.RUNNING for t in self.ps.tasks.values()))
    @rule(tid=st.sampled_from(TASKS))
    def cancel_then_start_is_refused(self, tid: str) -> None:
        task = self.ps.tasks.get(tid)
        if task is None or task.status is Status.RUNNING or task.terminal:
            return
        d = task.dispatch
        self._cmd("task.cancel", tid, {})
        assert self.ps.tasks[tid].status is Status.CANCELLED
        if d is not None:
            start = {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": "w"}
            assert [ev.type for ev in self._cmd("attempt.start", tid, start)] == [
                e.COMMAND_REJECTED
            ]

    @invariant()
    def timers_fire_once(self) -> None:
        # one `task.ready` per wait: never more readies than (submits + retries) scheduled
        per_task = Counter(ev.task_id for ev in self.log if ev.type == e.TASK_READY)
        waits = Counter(
            ev.task_id
            for ev in self.log
            if (ev.type == e.TASK_SUBMITTED and ev.payload["status"] == "scheduled")
            or ev.type in (e.ATTEMPT_FAILED, e.ATTEMPT_TIMED_OUT)
        )
        for tid, count in per_task.items():
            assert count <= waits[tid]

    @invariant()
    def no_timer_fires_early(self) -> None:
        for tid, task in self.ps.tasks.items():
            if task.status is Status.SCHEDULED and task.run_at is not None:
                ready_after = [
                    ev for ev in self.log if ev.task_id == tid and ev.type == e.TASK_READY
                ]
                assert all(ev.occurred_at <= self.now for ev in ready_after)

    @invariant()
    def at_most_one_terminal_event_per_task(self) -> None:
        ends = Counter(
            ev.task_id
            for ev in self.log
            if ev.type in (e.TASK_SUCCEEDED, e.TASK_DEAD_LETTERED, e.TASK_CANCELLED)
        )
        assert all(n == 1 for n in ends.values())
        for tid in ends:
            assert self.ps.tasks[tid].status in TERMINAL


SchedulerClock.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSchedulerClock = SchedulerClock.TestCase
