"""A bounded map task → (queue, type), for the tail filters on task attributes.

Filled from `task.submitted` records as they are read; tasks submitted before the ring
are looked up in the read model once and remembered. Least recently used entries go first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from api.tails.records import TailRecord

Attrs = tuple[str | None, str | None]


class TaskLookup(Protocol):
    """The read model's `get_task`."""

    async def get_task(self, tenant: str, task_id: str) -> dict[str, object] | None:
        """A task's current state, or None."""
        ...


class TaskAttrs:
    """LRU of (tenant, task_id) → (queue, type)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._map: OrderedDict[tuple[str, str], Attrs] = OrderedDict()

    def __len__(self) -> int:
        return len(self._map)

    def remember(self, record: TailRecord) -> None:
        """Keep the attributes a `task.submitted` record carries (others are ignored)."""
        if record.queue is None and record.task_type is None:
            return
        self._put((record.tenant, record.task_id), (record.queue, record.task_type))

    def get(self, tenant: str, task_id: str) -> Attrs | None:
        """Known attributes, or None."""
        key = (tenant, task_id)
        found = self._map.get(key)
        if found is not None:
            self._map.move_to_end(key)
        return found

    async def resolve(self, record: TailRecord, lookup: TaskLookup | None) -> Attrs | None:
        """The attributes of `record`'s task: from the record, the map, or the read model."""
        if record.queue is not None or record.task_type is not None:
            return (record.queue, record.task_type)
        found = self.get(record.tenant, record.task_id)
        if found is not None or lookup is None:
            return found
        task = await lookup.get_task(record.tenant, record.task_id)
        if task is None:
            return None
        queue, task_type = task.get("queue"), task.get("type")
        attrs = (
            queue if isinstance(queue, str) else None,
            task_type if isinstance(task_type, str) else None,
        )
        self._put((record.tenant, record.task_id), attrs)
        return attrs

    def _put(self, key: tuple[str, str], attrs: Attrs) -> None:
        self._map[key] = attrs
        self._map.move_to_end(key)
        while len(self._map) > self._capacity:
            self._map.popitem(last=False)
