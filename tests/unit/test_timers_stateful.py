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
# Weighted towards one task, so that sequences take it far: started, retried, dead, redriven.
TASKS = ("a", "a", "a", "b", "c")


class SchedulerClock(RuleBasedStateMachine):
    """Tasks submitted with delays, dispatched, started, reported, timed out, cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.ps = PartitionState(0, Timing(dispatch_timeout=30, lease=10))
        self.now = T0
        self.n = 0
        self.log: list[Envelope] = []
        self.attempts_seen: dict[str, int] = {}

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

    @rule(
        tid=st.sampled_from(TASKS),
        delay=st.one_of(st.just(0.0), st.floats(0, 120)),
        attempts=st.integers(1, 3),
    )
    def submit(self, tid: str, delay: float, attempts: int) -> None:
        run_at = (self.now + timedelta(seconds=delay)).isoformat()
        self._cmd("task.submit", tid, {"type": "x", "run_at": run_at, "max_attempts": attempts})

    @rule(seconds=st.floats(0.01, 90))
    def clock_moves_and_timers_fire(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        fired = []
        for timer in self.ps.due_timers(self.now.timestamp()):
            payload = {"kind": timer.kind, "attempt": timer.attempt}
            if self._cmd("timer.fire", timer.task_id, payload):
                fired.append((timer.task_id, payload))
        # Each timer fires once: nothing is due again at the same instant ...
        assert self.ps.due_timers(self.now.timestamp()) == []
        # ... and a timer that had its effect has none if it comes again (a replay after
        # a crash, say); a dispatch timer re-arms itself for the next deadline instead.
        for tid, payload in fired:
            if payload["kind"] != "dispatch":
                assert self._cmd("timer.fire", tid, payload) == []

    @rule(tid=st.sampled_from(TASKS))
    def dispatch(self, tid: str) -> None:
        self._cmd("task.dispatch", tid, {"dispatch_id": f"d{self.n}"})

    @rule()
    def tick_dispatches_what_is_ready(self) -> None:
        # As the engine does: every ready task, most urgent first.
        while (task := self.ps.pop_ready("default")) is not None:
            out = self._cmd("task.dispatch", task.id, {"dispatch_id": f"d{self.n}"})
            assert [ev.type for ev in out] == [e.TASK_DISPATCHED]

    @rule(tid=st.sampled_from(TASKS))
    def worker_takes_the_task(self, tid: str) -> None:
        # The common path in one step: dispatched if ready, then started.
        task = self.ps.tasks.get(tid)
        if task is not None and task.status is Status.PENDING and task.dispatch is None:
            self._cmd("task.dispatch", tid, {"dispatch_id": f"d{self.n}"})
            task = self.ps.tasks[tid]
        d = task.dispatch if task else None
        if d is not None:
            start = {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": "w"}
            assert [ev.type for ev in self._cmd("attempt.start", tid, start)] == [e.ATTEMPT_STARTED]

    @rule(tid=st.sampled_from(TASKS), fresh=st.booleans())
    def worker_starts(self, tid: str, fresh: bool) -> None:
        task = self.ps.tasks.get(tid)
        d = task.dispatch if task else None
        # A stale start names another attempt (a start from any hand-over of the
        # current attempt is accepted while it waits for one).
        payload = {
            "attempt": (d.attempt if fresh else d.attempt + 1) if d else 1,
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

    @precondition(lambda self: any(not t.terminal for t in self.ps.tasks.values()))
    @rule(tid=st.sampled_from(TASKS))
    def cancel_then_start_is_refused(self, tid: str) -> None:
        task = self.ps.tasks.get(tid)
        if task is None or task.terminal or task.cancel_requested:
            return
        d = task.dispatch
        out = self._cmd("task.cancel", tid, {})
        if task.status is Status.RUNNING:
            # The attempt is asked to stop; however it ends, the task ends cancelled.
            assert [ev.type for ev in out] == [e.TASK_CANCEL_REQUESTED]
            return
        assert self.ps.tasks[tid].status is Status.CANCELLED
        if d is not None:
            start = {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": "w"}
            assert [ev.type for ev in self._cmd("attempt.start", tid, start)] == [
                e.COMMAND_REJECTED
            ]

    @rule(tid=st.sampled_from(TASKS))
    def redrive(self, tid: str) -> None:
        task = self.ps.tasks.get(tid)
        out = self._cmd("task.redrive", tid, {})
        if task is not None and task.status is Status.DEAD:
            assert [ev.type for ev in out] == [e.TASK_REDRIVEN]
            assert self.ps.tasks[tid].attempts == task.attempts  # the history is kept

    @rule(tid=st.sampled_from(TASKS), ok=st.booleans())
    def late_report_of_an_ended_attempt(self, tid: str, ok: bool) -> None:
        task = self.ps.tasks.get(tid)
        ended = [a for a in task.attempts if a.outcome != "running"] if task else []
        if task is None or not ended:
            return
        payload: dict[str, object] = {"attempt": ended[-1].number, "worker": ended[-1].worker}
        if not ok:
            payload["error"] = "late"
        out = self._cmd("attempt.succeed" if ok else "attempt.fail", tid, payload)
        assert [ev.type for ev in out] == [e.COMMAND_REJECTED]
        assert self.ps.tasks[tid].attempts == task.attempts

    @invariant()
    def cancel_wins_over_any_later_start(self) -> None:
        stopped: set[str] = set()
        for ev in self.log:
            if ev.type in (e.TASK_CANCELLED, e.TASK_CANCEL_REQUESTED):
                stopped.add(ev.task_id)
            elif ev.type == e.ATTEMPT_STARTED:
                assert ev.task_id not in stopped, f"{ev.task_id} started after its cancel"

    @invariant()
    def redrive_and_retries_never_lose_an_attempt(self) -> None:
        started = Counter(ev.task_id for ev in self.log if ev.type == e.ATTEMPT_STARTED)
        for tid, task in self.ps.tasks.items():
            assert len(task.attempts) == started[tid]
            assert [a.number for a in task.attempts] == list(range(1, len(task.attempts) + 1))
            assert len(task.attempts) >= self.attempts_seen.get(tid, 0)
            self.attempts_seen[tid] = len(task.attempts)

    @invariant()
    def at_most_one_end_per_attempt(self) -> None:
        ends = Counter(
            (ev.task_id, ev.payload["attempt"])
            for ev in self.log
            if ev.type
            in (e.ATTEMPT_FAILED, e.ATTEMPT_TIMED_OUT, e.TASK_SUCCEEDED, e.TASK_DEAD_LETTERED)
            or (ev.type == e.TASK_CANCELLED and "attempt" in ev.payload)
        )
        assert all(n == 1 for n in ends.values()), ends

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
    def at_most_one_terminal_event_per_attempt_series(self) -> None:
        # A redrive opens a new series, so a task may end once per series.
        ends = Counter(
            ev.task_id
            for ev in self.log
            if ev.type in (e.TASK_SUCCEEDED, e.TASK_DEAD_LETTERED, e.TASK_CANCELLED)
        )
        series = Counter(ev.task_id for ev in self.log if ev.type == e.TASK_REDRIVEN)
        for tid, n in ends.items():
            assert n in (series[tid], series[tid] + 1)
            if n == series[tid] + 1:
                assert self.ps.tasks[tid].status in TERMINAL


SchedulerClock.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestSchedulerClock = SchedulerClock.TestCase
