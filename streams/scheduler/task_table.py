"""A partition's task states: the unfinished ones as objects, the finished ones packed.

The scheduler keeps every task it has folded, because a late or duplicate command for a
finished task must still be answered as the log says (a duplicate submit returns the
task, a redrive needs the dead task's history, a stale report is rejected). But a
finished task is read again only by such a command, and as an object graph it costs a
few kilobytes and every full pass of Python's cyclic collector: those passes walk the
whole heap and stop the event loop, timers included, for as long as they take.

So a task that reaches its terminal status is pickled into one `bytes` object, which
the collector never walks, and unpickled on the rare read. Pickle is exact for the
frozen dataclasses and never leaves this process.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping

from taskstream.domain.state import TaskState


class TaskTable(Mapping[str, TaskState]):
    """`task id -> TaskState`, with terminal states held packed."""

    def __init__(self) -> None:
        self._live: dict[str, TaskState] = {}
        self._packed: dict[str, bytes] = {}

    def __setitem__(self, task_id: str, state: TaskState) -> None:
        if state.terminal:
            self._live.pop(task_id, None)
            self._packed[task_id] = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            self._packed.pop(task_id, None)
            self._live[task_id] = state

    def __getitem__(self, task_id: str) -> TaskState:
        state = self._live.get(task_id)
        if state is not None:
            return state
        packed = self._packed[task_id]  # KeyError for an unknown task, as a dict would
        unpacked: TaskState = pickle.loads(packed)
        return unpacked

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._live or task_id in self._packed

    def __iter__(self) -> Iterator[str]:
        yield from self._live
        yield from self._packed

    def __len__(self) -> int:
        return len(self._live) + len(self._packed)

    def live(self, task_id: str) -> TaskState | None:
        """The state of `task_id` if it has not finished (no unpacking), else None."""
        return self._live.get(task_id)

    def unfinished(self) -> Iterator[TaskState]:
        """Every task that has not reached a terminal status."""
        return iter(self._live.values())

    @property
    def finished_count(self) -> int:
        """Tasks held packed."""
        return len(self._packed)
