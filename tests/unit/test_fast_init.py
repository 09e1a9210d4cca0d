"""`fast_constructor(cls)` builds what `cls(...)` builds, and `evolve(..., commands=False)`
differs from `evolve` only in the commands it records as seen."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.synthetic import stream
from taskstream.domain.evolve import evolve
from taskstream.domain.fast_init import fast_constructor
from taskstream.domain.state import (
    Attempt,
    Dispatch,
    Status,
    TaskState,
    new_attempt,
    new_dispatch,
    new_state,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)
REQUIRED: dict[str, Any] = {
    "id": "t1", "tenant": "acme", "queue": "default", "type": "demo.echo",
    "payload": {"n": 1}, "priority": 5, "max_attempts": 3, "timeout_seconds": 30.0,
    "labels": {"team": "a"}, "created_at": AT, "updated_at": AT, "status": Status.PENDING,
    "version": 1,
}  # fmt: skip

optional_fields = st.fixed_dictionaries(
    {},
    optional={
        "run_at": st.none() | st.just(AT),
        "attempts": st.lists(st.integers(1, 5), max_size=3).map(
            lambda ns: tuple(Attempt(n, "w", AT) for n in ns)
        ),
        "dispatch": st.none() | st.just(Dispatch(1, "d1", AT)),
        "cancel_requested": st.booleans(),
        "redrives": st.integers(0, 5),
        "seen_commands": st.frozensets(st.text(max_size=3), max_size=3),
    },
)


@given(optional_fields)
def test_new_state_equals_the_dataclass(optional: dict[str, Any]) -> None:
    built = new_state(**REQUIRED, **optional)
    assert type(built) is TaskState
    assert built == TaskState(**REQUIRED, **optional)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.version = 2  # type: ignore[misc]


def test_positional_arguments_and_defaults() -> None:
    assert new_attempt(1, "w", AT) == Attempt(1, "w", AT)
    assert new_attempt(2, "w", AT, AT, "boom", None, "failed") == Attempt(
        2, "w", AT, AT, "boom", None, "failed"
    )
    assert new_attempt(2, "w", started_at=AT, outcome="failed") == Attempt(
        2, "w", AT, outcome="failed"
    )
    assert type(new_dispatch(1, "d", AT)) is Dispatch
    assert new_dispatch(1, "d", AT) == Dispatch(1, "d", AT)


def test_a_default_factory_gives_each_object_its_own_value() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Box:
        items: list[int] = dataclasses.field(default_factory=list)

    build = fast_constructor(Box)
    assert build is not Box
    one, two = build(), build()
    assert one == Box() and one.items is not two.items
    assert build([1]).items == [1]


def test_missing_arguments_fail_as_the_dataclass_does() -> None:
    with pytest.raises(TypeError):
        new_attempt(1, "w")  # type: ignore[call-arg]


def test_classes_it_cannot_speed_up_are_returned_as_they_are() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("n")

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        n: int

    assert fast_constructor(Checked) is Checked
    assert fast_constructor(Unslotted) is Unslotted


def test_evolve_without_commands_differs_only_in_the_commands_seen() -> None:
    with_commands: dict[str, TaskState | None] = {}
    without: dict[str, TaskState | None] = {}
    for event in stream(300, seed=5):
        tid = event.task_id
        with_commands[tid] = evolve(with_commands.get(tid), event)
        without[tid] = evolve(without.get(tid), event, commands=False)
    assert with_commands.keys() == without.keys()
    assert any(s is not None and s.seen_commands for s in with_commands.values())
    for tid, state in with_commands.items():
        other = without[tid]
        assert other is not None and state is not None
        assert other.seen_commands == frozenset()
        assert other == dataclasses.replace(state, seen_commands=frozenset())
