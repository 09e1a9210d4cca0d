"""`with_changes` is `dataclasses.replace`, faster: same fields, still frozen, still a
`TaskState`, by either of its two copiers, and the commands `evolve` records as seen."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskstream.domain import events as e
from taskstream.domain import state as state_module
from taskstream.domain.envelope import Envelope
from taskstream.domain.evolve import evolve
from taskstream.domain.state import Attempt, Status, TaskState, copy_with, with_changes

AT = datetime(2026, 1, 1, tzinfo=UTC)
BASE = TaskState(
    id="t1", tenant="acme", queue="default", type="demo.echo", payload={"n": 1}, priority=5,
    max_attempts=3, timeout_seconds=30.0, labels={"team": "a"}, created_at=AT, updated_at=AT,
    status=Status.PENDING, version=1, seen_commands=frozenset({"c1"}),
)  # fmt: skip

changes_strategy = st.fixed_dictionaries(
    {},
    optional={
        "version": st.integers(0, 10**6),
        "status": st.sampled_from(list(Status)),
        "priority": st.integers(0, 9),
        "payload": st.none() | st.dictionaries(st.text(max_size=5), st.integers()),
        "attempts": st.lists(st.integers(1, 5), max_size=3).map(
            lambda ns: tuple(Attempt(n, "w", AT) for n in ns)
        ),
        "cancel_requested": st.booleans(),
        "result": st.none() | st.integers(),
        "seen_commands": st.frozensets(st.text(max_size=3), max_size=3),
    },
)


@given(changes_strategy)
def test_with_changes_equals_replace(changes: dict[str, Any]) -> None:
    copied = with_changes(BASE, **changes)
    assert type(copied) is TaskState
    assert copied == dataclasses.replace(BASE, **changes)


@pytest.mark.parametrize("draft", [True, False])
def test_both_copiers_copy_every_field(draft: bool) -> None:
    copy = state_module._compile_copier(draft)
    copied = copy(BASE, {"version": 2, "status": Status.RUNNING})
    assert type(copied) is TaskState
    assert copied == dataclasses.replace(BASE, version=2, status=Status.RUNNING)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.version = 3  # type: ignore[misc]


def test_unknown_field_is_named() -> None:
    with pytest.raises(TypeError, match="no field"):
        with_changes(BASE, colour="red")


@given(changes_strategy)
def test_copy_with_equals_with_changes(changes: dict[str, Any]) -> None:
    given_changes = dict(changes)
    assert copy_with(BASE, changes) == with_changes(BASE, **changes)
    assert changes == given_changes  # read, not changed


@given(st.lists(st.none() | st.sampled_from(["c1", "c2", "c3"]), max_size=6))
def test_evolve_records_every_command_it_has_seen(causes: list[str | None]) -> None:
    state = BASE
    for version, cause in enumerate(causes, start=2):
        event = Envelope(
            event_id=f"e{version}", type=e.TASK_CANCEL_REQUESTED, task_id="t1", version=version,
            occurred_at=AT, causation_id=cause, payload={"reason": "r"},
        )  # fmt: skip
        before = state.seen_commands
        after = evolve(state, event)
        assert after is not None
        assert after.seen_commands == before | ({cause} if cause else set())
        if cause is None or cause in before:
            assert after.seen_commands is before  # nothing new: the same set, not a copy
        state = after
