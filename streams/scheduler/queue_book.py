"""The queue aggregates of one partition: their states, the fold of their events.

Kept beside the tasks in `PartitionState` and rebuilt with them from the events topic.
Only the partition that owns a queue's aggregate decides its commands; every partition
learns the resulting settings from the queues topic (`streams/scheduler/queues.py`).
"""

from __future__ import annotations

from datetime import datetime

from taskstream.domain.envelope import Envelope
from taskstream.domain.queue import decide, evolve
from taskstream.domain.queue_model import QueueState


class QueueBook:
    """Queue states of one partition."""

    def __init__(self) -> None:
        self.states: dict[str, QueueState] = {}
        self.rejected_early: set[str] = set()

    def apply(self, event: Envelope) -> QueueState | None:
        """Fold one queue event in."""
        new = evolve(self.states.get(event.task_id), event)
        if new is None:
            if event.causation_id:
                self.rejected_early.add(event.causation_id)
            return None
        self.states[new.id] = new
        return new

    def command(self, cmd: Envelope, moment: datetime) -> list[Envelope]:
        """The events of a queue command (none for a replay refused before)."""
        if cmd.event_id in self.rejected_early:
            return []
        return decide(self.states.get(cmd.task_id), cmd, moment)
