"""Examples of the task state machine, one behaviour each."""

from __future__ import annotations

from datetime import timedelta

from taskstream.domain.machine import RetryPolicy, fold
from taskstream.domain.state import Dispatch, Status
from tests.unit.scenario import T0, Scenario


def _dispatched() -> tuple[Scenario, Dispatch]:
    """A submitted task just dispatched, and its dispatch."""
    s = Scenario()
    s.submit()
    s.dispatch()
    assert s.state is not None and s.state.dispatch is not None
    return s, s.state.dispatch


def test_submit_now_is_pending_and_submit_later_is_scheduled() -> None:
    now = Scenario()
    now.submit()
    assert now.state is not None and now.state.status is Status.PENDING
    later = Scenario()
    later.submit(run_at=(T0 + timedelta(minutes=5)).isoformat())
    assert later.state is not None and later.state.status is Status.SCHEDULED


def test_happy_path_events_and_versions() -> None:
    s = Scenario()
    s.submit()
    s.run_once()
    assert s.types() == ["task.submitted", "task.dispatched", "attempt.started", "task.succeeded"]
    assert [e.version for e in s.events] == [1, 2, 3, 4]
    assert s.state is not None and s.state.status is Status.SUCCEEDED and s.state.result == 1


def test_failure_schedules_retry_with_backoff_in_the_event() -> None:
    s = Scenario(policy=RetryPolicy(base_seconds=2, factor=2, max_seconds=60))
    s.submit(max_attempts=3)
    (failed,) = s.run_once(fail="boom")
    assert failed.type == "attempt.failed"
    assert failed.payload["backoff_seconds"] == 1.0  # draw 0.5 of a 2 s ceiling
    assert s.state is not None and s.state.status is Status.SCHEDULED
    assert s.state.run_at == s.now + timedelta(seconds=1)


def test_exhausted_attempts_end_dead_with_every_error_kept() -> None:
    s = Scenario()
    s.submit(max_attempts=2)
    s.run_once(fail="first")
    s.advance(10)
    s.when("timer.fire", {"kind": "run_at"})
    (dead,) = s.run_once(fail="second")
    assert dead.type == "task.dead_lettered"
    assert s.state is not None and s.state.status is Status.DEAD
    assert [a.error for a in s.state.attempts] == ["first", "second"]


def test_non_retryable_error_is_dead_at_once() -> None:
    s = Scenario()
    s.submit(max_attempts=5)
    (dead,) = s.run_once(fail="bad input", retryable=False)
    assert dead.type == "task.dead_lettered"
    assert dead.payload["reason"] == "non-retryable error"


def test_cancel_pending_task_and_later_start_is_rejected() -> None:
    s, d = _dispatched()
    s.when("task.cancel", {"reason": "no longer needed"})
    assert s.task.status is Status.CANCELLED
    (rejected,) = s.when(
        "attempt.start", {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": "w"}
    )
    assert rejected.type == "command.rejected"
    assert s.task.status is Status.CANCELLED and s.task.attempts == ()


def test_duplicate_command_is_a_no_op() -> None:
    s = Scenario()
    s.submit()
    first = s.events[0]
    assert first.causation_id is not None
    from tests.unit.scenario import command

    again = command("task.submit", {"type": "demo.echo"}, cid=first.causation_id)
    assert s.replay(again) == []


def test_stale_report_is_rejected_and_recorded() -> None:
    s = Scenario()
    s.submit(max_attempts=3)
    s.run_once(fail="boom")
    s.advance(5)
    s.when("timer.fire", {"kind": "run_at"})
    s.dispatch()
    s.start()
    (stale,) = s.when("attempt.succeed", {"attempt": 1, "worker": "old", "result": None})
    assert stale.type == "command.rejected" and "stale" in stale.payload["reason"]
    assert s.state is not None and s.state.status is Status.RUNNING


def test_lease_expiry_times_the_attempt_out_and_retries() -> None:
    s = Scenario()
    s.submit(max_attempts=2)
    s.dispatch()
    s.start()
    (timed_out,) = s.when("timer.fire", {"kind": "lease", "attempt": 1})
    assert timed_out.type == "attempt.timed_out"
    assert s.state is not None and s.state.attempts[0].outcome == "timed_out"


def test_timer_for_a_finished_task_does_nothing() -> None:
    s = Scenario()
    s.submit()
    s.run_once()
    assert s.when("timer.fire", {"kind": "dispatch", "attempt": 1}) == []


def test_redispatch_after_dispatch_timeout_keeps_the_attempt_number() -> None:
    s, first = _dispatched()
    (again,) = s.when("timer.fire", {"kind": "dispatch", "attempt": 1})
    assert again.type == "task.dispatched"
    assert s.task.dispatch is not None
    assert s.task.dispatch.attempt == 1 and s.task.dispatch.dispatch_id != first.dispatch_id


def test_a_late_start_of_the_first_hand_over_wins_and_the_second_is_refused() -> None:
    s, first = _dispatched()
    s.when("timer.fire", {"kind": "dispatch", "attempt": 1})  # the start was late
    assert s.task.dispatch is not None
    second = s.task.dispatch
    start = {"attempt": 1, "worker": "slow", "dispatch_id": first.dispatch_id}
    (started,) = s.when("attempt.start", start)
    assert started.type == "attempt.started" and s.task.status is Status.RUNNING
    again = {"attempt": 1, "worker": "fast", "dispatch_id": second.dispatch_id}
    (refused,) = s.when("attempt.start", again)
    assert refused.type == "command.rejected"
    assert s.task.current_attempt is not None and s.task.current_attempt.worker == "slow"


def test_a_start_for_another_attempt_is_stale() -> None:
    s, d = _dispatched()
    stale = {"attempt": 2, "worker": "w", "dispatch_id": d.dispatch_id}
    (refused,) = s.when("attempt.start", stale)
    assert refused.type == "command.rejected" and refused.payload["reason"] == "stale dispatch"


def test_invalid_command_payload_is_rejected_with_the_field() -> None:
    s = Scenario()
    (rejected,) = s.when("task.submit", {"type": "x", "priority": 12})
    assert rejected.type == "command.rejected" and "priority" in rejected.payload["reason"]
    assert s.state is None


def test_a_payload_integer_beyond_64_bits_is_rejected_naming_the_payload() -> None:
    s = Scenario()
    (rejected,) = s.when("task.submit", {"type": "x", "payload": {"n": 2**70}})
    assert rejected.type == "command.rejected"
    assert "payload" in rejected.payload["reason"]
    assert "not portable JSON" in rejected.payload["reason"]


def test_fold_reproduces_the_state() -> None:
    s = Scenario()
    s.submit(max_attempts=3)
    s.run_once(fail="a")
    s.advance(3)
    s.when("timer.fire", {"kind": "run_at"})
    s.run_once()
    assert fold(s.events) == s.state
