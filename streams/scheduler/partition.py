"""One partition's scheduler state: the fold of its events, indexed for dispatch and timers."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from streams.scheduler.queue_book import QueueBook
from streams.scheduler.schedules import ScheduleBook
from streams.scheduler.task_table import TaskTable
from taskstream.domain.capacity import ready_key
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import evolve
from taskstream.domain.queue_model import is_queue
from taskstream.domain.schedule_model import is_schedule
from taskstream.domain.state import Status, TaskState


@dataclass(frozen=True, slots=True)
class Timing:
    """Durations the scheduler adds to event times to place its timers."""

    dispatch_timeout: float
    lease: float
    # `run_at` timers fire this much early: the dispatch travels while the time comes.
    timer_lead: float = 0.0


@dataclass(frozen=True, slots=True)
class Timer:
    """A due time for one task; checked against the state when it fires."""

    due: float
    task_id: str
    kind: str
    attempt: int


# A timer as the heap holds it: (due, seq, task id, kind, attempt). A plain tuple of
# numbers and strings, which the cyclic collector stops tracking after one look; the
# heap holds several timers per task until they are due (a timeout's for minutes), and
# as objects they were most of what a full collection walked.
_Entry = tuple[float, int, str, str, int]


class PartitionState:
    """Tasks of one partition plus the indexes the scheduler needs.

    The tasks are the fold of the partition's events (finished ones held packed, see
    `task_table.py`). Indexes (ready heaps, in-flight sets, timers) are derived and
    rebuilt with them; lease and dispatch deadlines restart at `now + lease` and
    `now + dispatch_timeout` after a rebuild, which can only delay a timeout.
    """

    def __init__(self, partition: int, timing: Timing) -> None:
        self.partition = partition
        self.timing = timing
        self.tasks = TaskTable()
        # Per queue, per tenant: a tenant's paused queue must not hold back another's.
        self.ready: dict[str, dict[str, list[tuple[tuple[int, float, int], str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.inflight: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.timers: list[_Entry] = []
        self.leases: dict[str, float] = {}
        # Commands rejected before their task existed: a replay must not apply them later.
        self.rejected_early: set[str] = set()
        # Cron schedules keyed on this partition: a sibling fold of their own events.
        self.schedules = ScheduleBook()
        # Queue aggregates keyed on this partition (their settings reach every partition
        # through the queues topic, see streams/scheduler/queues.py).
        self.queues = QueueBook()
        self._seq = 0

    def apply(self, event: Envelope, now: float) -> TaskState | None:
        """Fold one event in and update the indexes (`now` places new leases)."""
        if is_schedule(event.task_id):
            self.schedules.apply(event)
            return None
        if is_queue(event.task_id):
            self.queues.apply(event)
            return None
        old = self.tasks.get(event.task_id)
        new = evolve(old, event)
        if new is None:
            if event.causation_id:
                self.rejected_early.add(event.causation_id)
            return None
        self.tasks[new.id] = new
        self._index(old, new, event, now)
        return new

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _timer(self, due: float, task_id: str, kind: str, attempt: int) -> None:
        heapq.heappush(self.timers, (due, self._next(), task_id, kind, attempt))

    def _index(self, old: TaskState | None, new: TaskState, event: Envelope, now: float) -> None:
        tid, queue, tenant = new.id, new.queue, new.tenant
        was_ready = old is not None and old.status is Status.PENDING and old.dispatch is None
        if new.status is Status.PENDING and new.dispatch is None and not was_ready:
            key = ready_key(new.priority, event.occurred_at.timestamp(), self._next())
            heapq.heappush(self.ready[queue][tenant], (key, tid))
        if new.dispatch is not None or new.status is Status.RUNNING:
            self.inflight[queue][tenant].add(tid)
        elif queue in self.inflight:
            self.inflight[queue][tenant].discard(tid)
        scheduled = new.status is Status.SCHEDULED and new.run_at is not None
        if scheduled and new.run_at is not None and (old is None or old.run_at != new.run_at):
            self._timer(self._run_at_due(new.run_at), tid, "run_at", 0)
        d = new.dispatch
        if d is not None and (old is None or old.dispatch != d):
            # Counted from the dispatch, or from now when that is later: folded in a
            # rebuild, the deadline restarts like a lease, because the worker's start may
            # be waiting in the commands topic behind the restart.
            since = max(d.dispatched_at.timestamp(), now)
            self._timer(since + self.timing.dispatch_timeout, tid, "dispatch", d.attempt)
        running = new.current_attempt
        if new.status is Status.RUNNING and running is not None:
            if old is None or old.status is not Status.RUNNING:
                self.leases[tid] = now + self.timing.lease
                self._timer(self.leases[tid], tid, "lease", running.number)
                started = running.started_at.timestamp()
                self._timer(started + new.timeout_seconds, tid, "timeout", running.number)
        else:
            self.leases.pop(tid, None)

    def rearm_run_at(self, state: TaskState, now: float) -> None:
        """Arm `state`'s `run_at` timer again, 1 ms from `now` at the earliest."""
        if state.run_at is not None:
            self._timer(max(self._run_at_due(state.run_at), now + 0.001), state.id, "run_at", 0)

    def _run_at_due(self, run_at: datetime) -> float:
        """When a `run_at` timer fires: the timer lead before the time."""
        return run_at.timestamp() - self.timing.timer_lead

    def extend_lease(self, task_id: str, attempt: int, now: float) -> None:
        """A heartbeat: push the running attempt's lease deadline out."""
        state = self.tasks.live(task_id)
        running = state.current_attempt if state else None
        if state and state.status is Status.RUNNING and running and running.number == attempt:
            self.leases[task_id] = now + self.timing.lease

    def due_timers(self, now: float) -> list[Timer]:
        """Pop the timers due at `now`; a lease renewed since is pushed back instead."""
        due: list[Timer] = []
        while self.timers and self.timers[0][0] <= now:
            at, _, task_id, kind, attempt = heapq.heappop(self.timers)
            if kind == "lease":
                deadline = self.leases.get(task_id)
                if deadline is None:
                    continue
                if deadline > now:
                    self._timer(deadline, task_id, "lease", attempt)
                    continue
            due.append(Timer(at, task_id, kind, attempt))
        return due

    def _best(
        self, queue: str, allowed: Callable[[str], bool] | None
    ) -> tuple[tuple[int, float, int], str] | None:
        best: tuple[tuple[int, float, int], str] | None = None
        for tenant, heap in self.ready.get(queue, {}).items():
            if allowed is not None and not allowed(tenant):
                continue
            self._drop_stale(heap)
            if heap and (best is None or heap[0][0] < best[0]):
                best = (heap[0][0], tenant)
        return best

    def peek_ready(
        self, queue: str, allowed: Callable[[str], bool] | None = None
    ) -> tuple[int, float, int] | None:
        """The sort key of the task `pop_ready` would return, if any."""
        best = self._best(queue, allowed)
        return best[0] if best else None

    def pop_ready(
        self, queue: str, allowed: Callable[[str], bool] | None = None
    ) -> TaskState | None:
        """The most urgent task of `queue` still waiting for dispatch, over the tenants
        `allowed` says may dispatch now (all of them by default), if any."""
        best = self._best(queue, allowed)
        if best is None:
            return None
        _, tid = heapq.heappop(self.ready[queue][best[1]])
        return self.tasks.live(tid)  # ready, so unfinished: `_best` dropped stale entries

    def _drop_stale(self, heap: list[tuple[tuple[int, float, int], str]]) -> None:
        while heap:
            state = self.tasks.live(heap[0][1])
            if state and state.status is Status.PENDING and state.dispatch is None:
                return
            heapq.heappop(heap)

    def queues_with_ready(self) -> list[str]:
        """Queues that have tasks waiting for dispatch."""
        return [q for q, heaps in self.ready.items() if any(heaps.values())]

    def ready_tenants(self, queue: str) -> list[str]:
        """Tenants with tasks of `queue` waiting for dispatch (entries may be stale)."""
        return [t for t, heap in self.ready.get(queue, {}).items() if heap]

    def inflight_count(self, queue: str, tenant: str | None = None) -> int:
        """Tasks of `queue` (of one tenant, or all) dispatched or running from here."""
        sets = self.inflight.get(queue)
        if not sets:
            return 0
        if tenant is not None:
            return len(sets.get(tenant, ()))
        return sum(len(s) for s in sets.values())

    def next_due(self) -> float | None:
        """When the earliest timer (or schedule) is due."""
        dues = [d for d in (self.schedules.next_due(),) if d is not None]
        if self.timers:
            dues.append(self.timers[0][0])
        return min(dues) if dues else None
