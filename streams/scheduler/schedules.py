"""The schedules of one partition: their states (the fold of their events) and due times.

Kept beside the tasks in `PartitionState` and rebuilt with them from the events topic,
so a schedule's last fired due time survives restarts and rebalances: after a rebuild
the next fire is decided from the fold, never from memory of the old owner.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime

from streams.scheduler.metrics import EVENTS
from taskstream.codec import encode
from taskstream.domain.envelope import Envelope
from taskstream.domain.schedule import decide, evolve, fire, submit_for
from taskstream.domain.schedule_model import SCHEDULE_FIRED, ScheduleState


class ScheduleBook:
    """Schedule states of one partition, with a heap of their next due times."""

    def __init__(self) -> None:
        self.states: dict[str, ScheduleState] = {}
        self.rejected_early: set[str] = set()
        self._due: list[tuple[float, str]] = []
        # A fire's event may be in the log without its submit (a crash between the
        # two): after a rebuild, each schedule's last submit is sent again, once.
        self.resubmit_pending = True

    def apply(self, event: Envelope) -> ScheduleState | None:
        """Fold one schedule event in and index its next due time."""
        old = self.states.get(event.task_id)
        new = evolve(old, event)
        if new is None:
            if event.causation_id:
                self.rejected_early.add(event.causation_id)
            return None
        self.states[new.id] = new
        due = new.next_due_at
        moved = old is None or not old.active or old.next_due_at != due
        if new.active and due is not None and moved:
            heapq.heappush(self._due, (due.timestamp(), new.id))
        return new

    def command(self, cmd: Envelope, moment: datetime) -> list[Envelope]:
        """The events of a schedule command (none for a replay refused before)."""
        if cmd.event_id in self.rejected_early:
            return []
        return decide(self.states.get(cmd.task_id), cmd, moment)

    def next_due(self) -> float | None:
        """When the earliest schedule is due (entries may be stale; they are dropped)."""
        return self._due[0][0] if self._due else None

    def fire_due(
        self, now: float, moment: datetime, draw: Callable[[], float]
    ) -> tuple[list[Envelope], list[Envelope]]:
        """(events, task.submit commands) of every schedule due at `now`.

        Events are folded in here as they are decided, so a schedule due again already
        (a catch-up) is decided on its new state.
        """
        events: list[Envelope] = []
        submits: list[Envelope] = []
        if self.resubmit_pending:
            self.resubmit_pending = False
            submits.extend(self._resubmits())
        while self._due and self._due[0][0] <= now:
            _, sid = heapq.heappop(self._due)
            state = self.states.get(sid)
            if state is None or not state.active or state.next_due_at is None:
                continue
            if state.next_due_at.timestamp() > now:
                continue  # a stale entry: the current due time has its own
            for event in fire(state, moment, draw()):
                self.apply(event)
                events.append(event)
                if event.type == SCHEDULE_FIRED:
                    submits.append(submit_for(self.states[sid], event))
        return events, submits

    def _resubmits(self) -> list[Envelope]:
        out = []
        for state in self.states.values():
            if state.last_due_at is None or state.last_task_id is None:
                continue
            fired = Envelope(
                event_id=f"refire:{state.id}",
                type=SCHEDULE_FIRED,
                task_id=state.id,
                occurred_at=state.last_fired_at or state.updated_at,
                tenant=state.tenant,
                payload={
                    "due_at": state.last_due_at.isoformat(),
                    "task_id": state.last_task_id,
                    "run_at": state.last_run_at.isoformat() if state.last_run_at else None,
                },
            )
            out.append(submit_for(state, fired))
        return out


Outgoing = tuple[str, bytes, bytes, int | None]  # topic, key, value, partition


def fire_records(
    book: ScheduleBook,
    partition: int,
    now: float,
    moment: datetime,
    draw: Callable[[], float],
    *,
    events_topic: str,
    commands_topic: str,
) -> list[Outgoing]:
    """The records of every schedule of `book` due at `now`: their events (already
    folded into the book) for this partition, then the task submits they ask for.

    A submit is keyed by its own task id, so it may land on another partition; the
    producer's partitioner places it as it places any producer's command.
    """
    events, submits = book.fire_due(now, moment, draw)
    out: list[Outgoing] = []
    for event in events:
        out.append((events_topic, event.task_id.encode(), encode(event), partition))
        EVENTS.labels(event.type).inc()
    out.extend((commands_topic, cmd.task_id.encode(), encode(cmd), None) for cmd in submits)
    return out
