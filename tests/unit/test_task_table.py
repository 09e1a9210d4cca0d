"""The scheduler's task table: finished tasks are held packed and read back exactly."""

from __future__ import annotations

import gc

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.synthetic import stream
from streams.scheduler.partition import PartitionState, Timing
from streams.scheduler.task_table import TaskTable
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import evolve
from taskstream.domain.state import TaskState

TIMING = Timing(dispatch_timeout=30, lease=10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30))
def test_a_partition_holds_exactly_the_fold_of_its_events(seed: int, n: int) -> None:
    events = stream(n, seed=seed, order="random")
    ps = PartitionState(0, TIMING)
    for event in events:
        ps.apply(event, 0.0)
    folded = _fold(events)
    assert dict(ps.tasks) == folded
    assert ps.tasks.finished_count == sum(s.terminal for s in folded.values())
    for task_id, state in folded.items():
        # Only unfinished tasks are held as objects.
        assert ps.tasks.live(task_id) == (None if state.terminal else state)


def test_finished_tasks_are_out_of_the_collectors_sight() -> None:
    table = TaskTable()
    finished = [s for s in _final_states(200) if s.terminal]
    assert finished
    for state in finished:
        table[state.id] = state
    held = gc.get_referents(table._packed)
    assert len(held) >= len(finished)
    assert not any(gc.is_tracked(o) for o in held)  # no object graph to walk
    assert all(table[s.id] == s for s in finished)


def test_a_task_moves_between_live_and_packed_with_its_status() -> None:
    table = TaskTable()
    states = _final_states(50)
    for s in states:
        table[s.id] = s
    assert len(table) == len(states) and set(table) == {s.id for s in states}
    assert "no-such-task" not in table and table.get("no-such-task") is None
    assert sorted(s.id for s in table.unfinished()) == sorted(
        s.id for s in states if not s.terminal
    )


def _final_states(n: int) -> list[TaskState]:
    return list(_fold(stream(n, seed=7)).values())


def _fold(events: list[Envelope]) -> dict[str, TaskState]:
    """Each task's state after `events`, folded by the domain's own `evolve`."""
    folded: dict[str, TaskState] = {}
    for event in events:
        new = evolve(folded.get(event.task_id), event)
        if new is not None:
            folded[new.id] = new
    return folded
