"""Properties of the state machine over any sequence of commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import fold
from taskstream.domain.state import TERMINAL, Status
from tests.unit.scenario import Scenario, command

TERMINAL_EVENTS = {e.TASK_SUCCEEDED, e.TASK_DEAD_LETTERED, e.TASK_CANCELLED}

submit_op = st.tuples(st.just("submit"), st.integers(1, 4), st.integers(0, 9), st.booleans())
# The steps that move a task forward are drawn more often than those that end it, so that
# sequences reach running, dead and redriven tasks, not only early cancellations.
forward = st.one_of(
    st.tuples(st.just("dispatch")),
    st.tuples(st.just("start"), st.booleans()),
    st.tuples(st.just("fail"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("timer"), st.sampled_from(["run_at", "dispatch", "lease", "timeout"])),
    st.tuples(st.just("wait"), st.floats(0, 400)),
)
ops = st.one_of(
    forward,
    forward,
    forward,
    submit_op,
    st.tuples(st.just("succeed"), st.integers(0, 3)),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("stopped"), st.integers(0, 3)),
    st.tuples(st.just("redrive")),
    st.tuples(st.just("duplicate"), st.integers(0, 50)),
)


def _apply(s: Scenario, op: tuple[Any, ...], sent: list[Envelope], draw: float) -> None:
    """Turn one drawn operation into a command against the current state."""
    kind = op[0]
    state = s.state
    running = state.current_attempt if state else None
    number = running.number if running else 1
    if kind == "submit":
        run_at = (s.now + timedelta(seconds=30)).isoformat() if op[3] else None
        s.when(
            "task.submit", {"type": "x", "max_attempts": op[1], "priority": op[2], "run_at": run_at}
        )
    elif kind == "dispatch":
        s.when("task.dispatch", {"dispatch_id": f"d{s.counter}"})
    elif kind == "start":
        if op[1] and state is not None and state.status is Status.PENDING and not state.dispatch:
            s.when("task.dispatch", {"dispatch_id": f"d{s.counter}"})  # the scheduler's step
            state = s.state
        d = state.dispatch if state else None
        dispatch_id = d.dispatch_id if d and op[1] else "bogus"
        attempt = d.attempt if d else 1
        s.when("attempt.start", {"attempt": attempt, "dispatch_id": dispatch_id, "worker": "w"})
    elif kind == "succeed":
        s.when("attempt.succeed", {"attempt": max(1, number - op[1]), "worker": "w"})
    elif kind == "fail":
        payload = {
            "attempt": max(1, number - op[1]),
            "worker": "w",
            "error": "e",
            "retryable": op[2],
        }
        s.when("attempt.fail", payload, draw=draw)
    elif kind == "cancel":
        s.when("task.cancel", {})
    elif kind == "stopped":
        s.when("attempt.cancel", {"attempt": max(1, number - op[1]), "worker": "w"})
    elif kind == "redrive":
        s.when("task.redrive", {})
    elif kind == "timer":
        s.when("timer.fire", {"kind": op[1], "attempt": number}, draw=draw)
    elif kind == "duplicate" and sent:
        s.replay(sent[op[1] % len(sent)])
    elif kind == "wait":
        s.advance(op[1])


# Most sequences start with a submit, so that they reach running, dead and redriven tasks.
sequences = st.one_of(
    st.lists(ops, max_size=40),
    st.tuples(submit_op, st.lists(ops, min_size=5, max_size=40)).map(lambda t: [t[0], *t[1]]),
)


@settings(max_examples=600, deadline=None)
@given(sequences, st.floats(0, 0.999))
def test_any_command_sequence_keeps_the_invariants(seq: list[tuple[Any, ...]], draw: float) -> None:
    s = Scenario()
    history: list[Envelope] = []
    for op in seq:
        before = len(s.events)
        _apply(s, op, [], draw)
        for event in s.events[before:]:
            history.append(event)
        if s.state is not None:
            # attempts since the last redrive never exceed max_attempts
            assert 0 <= s.state.attempts_in_series <= s.state.max_attempts
            # only a running attempt can be waiting for its cancel
            assert not s.state.cancel_requested or s.state.status is Status.RUNNING
    # Terminal events only end an attempt series, at most once each; only `task.redriven`
    # reopens one, and only after `task.dead_lettered`. Nothing else follows an end.
    open_, last_end = True, ""
    for ev in history:
        if ev.type in TERMINAL_EVENTS:
            assert open_
            open_, last_end = False, ev.type
        elif ev.type == e.TASK_REDRIVEN:
            assert not open_ and last_end == e.TASK_DEAD_LETTERED
            open_ = True
        elif ev.type != e.COMMAND_REJECTED and ev.type != e.TASK_SUBMITTED:
            assert open_
    if not open_:
        assert s.state is not None and s.state.status in TERMINAL
    # cancel wins: after a cancel request the next change is the task's cancellation
    changes = [ev.type for ev in history if ev.type != e.COMMAND_REJECTED]
    for i, type_ in enumerate(changes[:-1]):
        if type_ == e.TASK_CANCEL_REQUESTED:
            assert changes[i + 1] == e.TASK_CANCELLED
    # versions increase by one per state-changing event; rejections carry the current one
    version = 0
    for ev in history:
        if ev.type == e.COMMAND_REJECTED:
            assert ev.version == version
        else:
            assert ev.version == version + 1
            version = ev.version
    # replaying the emitted events through evolve reproduces the state
    assert fold(history) == s.state


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, max_size=30), st.lists(st.integers(0, 1000), max_size=10))
def test_replaying_any_earlier_command_is_a_no_op(
    seq: list[tuple[Any, ...]], picks: list[int]
) -> None:
    s = Scenario()
    for op in seq:
        _apply(s, op, [], 0.5)
    # Commands rejected before the task existed are deduplicated by the scheduler's
    # partition state (tests/unit/test_partition_state.py), not by the task.
    seen = sorted(
        {
            ev.causation_id
            for ev in s.events
            if ev.causation_id and ev.causation_id.startswith("c") and ev.version > 0
        }
    )
    if not seen or s.state is None:
        return
    state_before, count_before = s.state, len(s.events)
    for pick in picks:
        cid = seen[pick % len(seen)]
        # the payload does not matter: the id alone marks it as already applied
        assert s.replay(command("task.cancel", {}, cid=cid)) == []
    assert s.state == state_before and len(s.events) == count_before


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.floats(0, 0.999))
def test_a_task_that_always_fails_is_dead_after_max_attempts(
    max_attempts: int, draw: float
) -> None:
    s = Scenario()
    s.submit(max_attempts=max_attempts)
    for i in range(max_attempts):
        s.run_once(fail=f"error {i}")
        if s.state is not None and s.state.status is Status.SCHEDULED:
            s.advance(400)
            s.when("timer.fire", {"kind": "run_at"}, draw=draw)
    assert s.state is not None and s.state.status is Status.DEAD
    assert [a.error for a in s.state.attempts] == [f"error {i}" for i in range(max_attempts)]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.floats(0, 0.999))
def test_each_redrive_gives_a_fresh_budget_and_keeps_every_attempt(
    max_attempts: int, rounds: int, draw: float
) -> None:
    s = Scenario()
    s.submit(max_attempts=max_attempts)
    for r in range(rounds):
        for i in range(max_attempts):
            s.run_once(fail=f"r{r} e{i}")
            assert s.state is not None and s.state.attempts_in_series <= max_attempts
            if s.state.status is Status.SCHEDULED:
                s.advance(400)
                s.when("timer.fire", {"kind": "run_at"}, draw=draw)
        assert s.state is not None and s.state.status is Status.DEAD
        s.when("task.redrive", {})
        assert s.state.status is Status.PENDING and s.state.redrives == r + 1
    assert s.state is not None and len(s.state.attempts) == rounds * max_attempts
    assert [a.number for a in s.state.attempts] == list(range(1, rounds * max_attempts + 1))
    assert fold(s.events) == s.state
