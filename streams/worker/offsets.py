"""Which offsets a worker may commit: in order per partition, only past settled records."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(slots=True)
class _Entry:
    offset: int
    settled: bool = False


@dataclass(slots=True)
class OffsetTracker:
    """Records taken from the consumer, in order, and whether each is settled.

    A record is settled once its `attempt.start` is acknowledged (or it needed none: dead
    letters, stale dispatches). The commit point of a partition never passes an unsettled
    record, so a worker that dies before its start is written gets the record redelivered.
    """

    _pending: dict[TopicPartition, deque[_Entry]] = field(default_factory=dict)
    _index: dict[tuple[TopicPartition, int], _Entry] = field(default_factory=dict)
    _ready: dict[TopicPartition, int] = field(default_factory=dict)

    def take(self, tp: TopicPartition, offset: int) -> None:
        """A record was handed to the runtime."""
        entry = _Entry(offset)
        self._pending.setdefault(tp, deque()).append(entry)
        self._index[(tp, offset)] = entry

    def settle(self, tp: TopicPartition, offset: int) -> None:
        """The record no longer needs redelivery."""
        entry = self._index.pop((tp, offset), None)
        if entry is None:
            return  # its partition was revoked and forgotten meanwhile
        entry.settled = True
        queue = self._pending[tp]
        while queue and queue[0].settled:
            self._ready[tp] = queue.popleft().offset + 1

    def unsettled(self, partitions: set[TopicPartition] | None = None) -> int:
        """How many taken records (of `partitions`, or all) are not settled yet."""
        return sum(
            len(q) for tp, q in self._pending.items() if partitions is None or tp in partitions
        )

    def committable(self) -> dict[TopicPartition, int]:
        """Commit points that moved since the last call (next offset to read, per partition)."""
        ready, self._ready = self._ready, {}
        return ready

    def restore(self, points: dict[TopicPartition, int]) -> None:
        """Put back commit points whose commit failed, unless newer ones exist."""
        for tp, offset in points.items():
            if self._ready.get(tp, -1) < offset:
                self._ready[tp] = offset

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the state of partitions this worker no longer owns."""
        for tp in partitions:
            for entry in self._pending.pop(tp, deque()):
                self._index.pop((tp, entry.offset), None)
            self._ready.pop(tp, None)
