"""Queue counters, the pure part: which statuses are counted, and a batch's net change.

Four counters per (tenant, queue, priority):

- `pending` = status `pending`: ready to run, waiting for capacity in the scheduler or
  handed to a worker (dispatched) that has not reported `attempt.started` yet;
- `scheduled` = status `scheduled`: waiting for a time (a `run_at` delay, a retry's backoff);
- `running` = status `running`: an attempt started and has not ended (a task whose cancel
  was requested included, until its attempt ends);
- `dead` = status `dead`: failed for good, in the dead-letter list until redriven.

`succeeded` and `cancelled` are not counted: they only ever grow, and the per-queue
statistics (`projections.queue_stats`) say how many ended so, per minute.

A batch's change is computed from the fold's transitions (the state before and after each
event that moved a task), so it is exactly what the batch did to the `tasks` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from projections.fold import Transition
from taskstream.domain.state import Status, TaskState

COUNTERS: Final = ("pending", "scheduled", "running", "dead")

_COUNTER_OF: Final[Mapping[Status, str]] = {
    Status.PENDING: "pending",
    Status.SCHEDULED: "scheduled",
    Status.RUNNING: "running",
    Status.DEAD: "dead",
}

COUNTED_STATUSES: Final = tuple(s.value for s in _COUNTER_OF)

# Separates queue, priority and counter in a Redis hash field; queue names cannot hold it.
SEP: Final = "|"


def counter_of(status: Status) -> str | None:
    """The counter a task in `status` adds to, or None (succeeded, cancelled)."""
    return _COUNTER_OF.get(status)


def field_name(queue: str, priority: int, counter: str) -> str:
    """The hash field of one counter: `queue|priority|counter`."""
    return f"{queue}{SEP}{priority}{SEP}{counter}"


def parse_field(name: str) -> tuple[str, int, str]:
    """`(queue, priority, counter)` of a hash field (ValueError if malformed)."""
    queue, priority, counter = name.rsplit(SEP, 2)
    if counter not in COUNTERS:
        raise ValueError(f"unknown counter {counter!r}")
    return queue, int(priority), counter


Key = tuple[str, str]  # (tenant, field)


def _slot(state: TaskState | None) -> Key | None:
    if state is None:
        return None
    counter = counter_of(state.status)
    if counter is None:
        return None
    return state.tenant, field_name(state.queue, state.priority, counter)


@dataclass(slots=True)
class CounterDelta:
    """Net change of the counters by one batch, and the partitions (prev, new) it covers."""

    counts: dict[Key, int] = field(default_factory=dict)
    # partition -> (checkpoint before the batch, or -1; checkpoint after it)
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)

    def by_tenant(self) -> dict[str, dict[str, int]]:
        """Non-zero changes grouped by tenant: {tenant: {field: n}}."""
        out: dict[str, dict[str, int]] = {}
        for (tenant, name), n in self.counts.items():
            if n:
                out.setdefault(tenant, {})[name] = n
        return out


def counter_delta(transitions: Iterable[Transition]) -> dict[Key, int]:
    """Net change of every counter over `transitions` (zeros dropped)."""
    counts: dict[Key, int] = {}
    for t in transitions:
        old, new = _slot(t.before), _slot(t.after)
        if old == new:
            continue
        if old is not None:
            counts[old] = counts.get(old, 0) - 1
        if new is not None:
            counts[new] = counts.get(new, 0) + 1
    return {k: n for k, n in counts.items() if n}


def counts_of(states: Iterable[TaskState]) -> dict[Key, int]:
    """The counters of a set of task states, from scratch (what a rebuild computes)."""
    counts: dict[Key, int] = {}
    for state in states:
        slot = _slot(state)
        if slot is not None:
            counts[slot] = counts.get(slot, 0) + 1
    return counts


def add(counts: Mapping[Key, int], delta: Mapping[Key, int]) -> dict[Key, int]:
    """`counts` plus `delta`, zeros dropped (what the Redis script does)."""
    out = dict(counts)
    for key, n in delta.items():
        out[key] = out.get(key, 0) + n
        if out[key] == 0:
            del out[key]
    return out
