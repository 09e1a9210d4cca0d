"""Cancelling running attempts, and redriving dead tasks: given events, when a command."""

from __future__ import annotations

import json
from dataclasses import replace

from projections.fold import fold_extras, state_from_dict
from taskstream.domain.machine import fold
from taskstream.domain.state import Status
from tests.unit.scenario import Scenario


def _running(**submit: object) -> Scenario:
    s = Scenario()
    s.submit(**submit)
    s.dispatch()
    s.start()
    return s


def _report(s: Scenario, type_: str, **fields: object) -> list[str]:
    assert s.state is not None
    number = s.state.attempts[-1].number
    return [e.type for e in s.when(type_, {"attempt": number, "worker": "w1", **fields})]


def test_cancel_of_a_running_task_requests_it_and_keeps_it_running() -> None:
    s = _running()
    (requested,) = s.when("task.cancel", {"reason": "changed my mind"})
    assert requested.type == "task.cancel_requested"
    assert requested.payload["attempt"] == 1 and requested.payload["worker"] == "w1"
    assert s.state is not None and s.state.status is Status.RUNNING
    assert s.state.cancel_requested and s.state.as_dict()["cancel_requested"] is True


def test_a_second_cancel_while_stopping_is_rejected() -> None:
    s = _running()
    s.when("task.cancel", {})
    (again,) = s.when("task.cancel", {})
    assert again.type == "command.rejected" and "already requested" in again.payload["reason"]


def test_the_worker_reporting_the_stop_ends_it_cancelled() -> None:
    s = _running()
    s.when("task.cancel", {"reason": "dup"})
    assert _report(s, "attempt.cancel") == ["task.cancelled"]
    assert s.state is not None and s.state.status is Status.CANCELLED
    assert not s.state.cancel_requested
    assert s.state.attempts[0].outcome == "cancelled"
    assert s.state.attempts[0].finished_at is not None


def test_a_success_after_a_cancel_request_ends_cancelled_and_says_it_succeeded() -> None:
    s = _running()
    s.when("task.cancel", {})
    assert _report(s, "attempt.succeed", result=1) == ["task.cancelled"]
    assert s.state is not None and s.state.status is Status.CANCELLED
    assert s.state.result is None and s.state.attempts[0].outcome == "succeeded"


def test_a_failure_after_a_cancel_request_schedules_no_retry() -> None:
    s = _running(max_attempts=5)
    s.when("task.cancel", {})
    assert _report(s, "attempt.fail", error="boom", traceback="tb") == ["task.cancelled"]
    assert s.state is not None and s.state.status is Status.CANCELLED
    assert s.state.attempts[0].outcome == "failed" and s.state.attempts[0].error == "boom"


def test_a_lease_lapse_or_timeout_after_a_cancel_request_ends_cancelled() -> None:
    for kind in ("lease", "timeout"):
        s = _running(max_attempts=5)
        s.when("task.cancel", {})
        (ended,) = s.when("timer.fire", {"kind": kind, "attempt": 1})
        assert ended.type == "task.cancelled" and ended.payload["cause"] == kind
        assert s.state is not None and s.state.status is Status.CANCELLED
        assert s.state.attempts[0].outcome == "timed_out"


def test_a_cancelled_report_without_a_request_is_rejected() -> None:
    s = _running()
    (rejected,) = s.when("attempt.cancel", {"attempt": 1, "worker": "w1"})
    assert rejected.type == "command.rejected"
    assert s.state is not None and s.state.status is Status.RUNNING


def test_cancel_of_a_dispatched_not_started_task_is_immediate() -> None:
    s = Scenario()
    s.submit()
    s.dispatch()
    (cancelled,) = s.when("task.cancel", {})
    assert cancelled.type == "task.cancelled" and "attempt" not in cancelled.payload
    assert s.state is not None and s.state.status is Status.CANCELLED


def _dead(max_attempts: int = 2) -> Scenario:
    s = Scenario()
    s.submit(max_attempts=max_attempts)
    for i in range(max_attempts):
        s.run_once(fail=f"error {i + 1}")
        if s.state is not None and s.state.status is Status.SCHEDULED:
            s.advance(400)
            s.when("timer.fire", {"kind": "run_at"})
    assert s.state is not None and s.state.status is Status.DEAD
    return s


def test_redrive_of_a_dead_task_makes_it_pending_with_its_history_kept() -> None:
    s = _dead(max_attempts=2)
    (redriven,) = s.when("task.redrive", {"reason": "fixed the bug"})
    assert redriven.type == "task.redriven"
    assert redriven.payload["redrive"] == 1 and redriven.payload["attempt_base"] == 2
    assert s.state is not None and s.state.status is Status.PENDING
    assert [a.error for a in s.state.attempts] == ["error 1", "error 2"]
    assert s.state.attempts_in_series == 0 and s.state.as_dict()["redrives"] == 1
    assert fold(s.events) == s.state


def test_a_redriven_task_gets_a_fresh_budget_and_numbering_goes_on() -> None:
    s = _dead(max_attempts=2)
    s.when("task.redrive", {})
    (failed,) = s.run_once(fail="error 3")
    assert failed.type == "attempt.failed"  # attempt 3, but only the first of this series
    s.advance(400)
    s.when("timer.fire", {"kind": "run_at"})
    (dead,) = s.run_once(fail="error 4")
    assert dead.type == "task.dead_lettered" and dead.payload["attempt"] == 4
    assert s.state is not None and [a.number for a in s.state.attempts] == [1, 2, 3, 4]
    s.when("task.redrive", {})
    s.run_once()
    assert s.state.status is Status.SUCCEEDED and s.state.redrives == 2


def test_redrive_of_a_task_that_is_not_dead_is_rejected() -> None:
    for prepare in ("pending", "running", "succeeded"):
        s = Scenario()
        s.submit()
        if prepare != "pending":
            s.dispatch()
            s.start()
        if prepare == "succeeded":
            _report(s, "attempt.succeed")
        status = s.state.status if s.state else None
        (rejected,) = s.when("task.redrive", {})
        assert (
            rejected.type == "command.rejected" and "only a dead task" in rejected.payload["reason"]
        )
        assert s.state is not None and s.state.status is status


def test_cancel_and_redrive_fields_survive_the_read_models_stored_form() -> None:
    stopping = _running()
    stopping.when("task.cancel", {"reason": "r"})
    redriven = _dead(max_attempts=1)
    redriven.when("task.redrive", {})
    for state in (stopping.state, redriven.state):
        assert state is not None
        stored = state_from_dict(json.loads(json.dumps(state.as_dict())), fold_extras(state))
        assert stored == replace(state, seen_commands=frozenset())
