"""Which tenants' tasks of one queue may be dispatched now: pause and concurrency limits.

Built for one dispatch pass over one queue. A paused (tenant, queue) dispatches nothing.
A limited one dispatches while this process's attempts in flight for it, over all the
partitions it owns, stay below its pooled quota (`taskstream/domain/capacity.py`): the
whole limit when it owns every partition, its partitions' strict shares otherwise, so
the processes together never exceed the limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.scheduler.partition import PartitionState
from streams.scheduler.queues import QueueDirectory
from taskstream.domain.capacity import limited_capacity, pooled_quota


class DispatchGate:
    """Admission of one queue's tenants during one dispatch pass."""

    def __init__(
        self,
        queue: str,
        directory: QueueDirectory,
        owned: dict[int, PartitionState],
        *,
        capacity: int,
        partitions: int,
        overcommit: float,
        epoch: int,
    ) -> None:
        self._queue = queue
        self._directory = directory
        self._owned = owned
        self._capacity = capacity
        self._partitions = partitions
        self._overcommit = overcommit
        self._epoch = epoch
        self._room: dict[str, int | None] = {}  # tenant -> slots left (None: unlimited)

    def _open(self, tenant: str) -> int | None:
        settings = self._directory.get(tenant, self._queue)
        if settings is None:
            return None
        if settings.paused:
            return 0
        if settings.limit is None:
            return None
        total = limited_capacity(settings.limit, self._capacity, self._overcommit)
        quota = pooled_quota(total, self._partitions, frozenset(self._owned), self._epoch)
        used = sum(st.inflight_count(self._queue, tenant) for st in self._owned.values())
        return max(0, quota - used)

    def allowed(self, tenant: str) -> bool:
        """True if one more task of `tenant` may be dispatched."""
        if tenant not in self._room:
            self._room[tenant] = self._open(tenant)
        room = self._room[tenant]
        return room is None or room > 0

    def took(self, tenant: str) -> None:
        """One task of `tenant` was dispatched."""
        room = self._room.get(tenant)
        if room is not None:
            self._room[tenant] = room - 1

    def any_allowed(self, tenants: Iterable[str]) -> bool:
        """True if any of `tenants` may dispatch."""
        return any(self.allowed(t) for t in tenants)
