"""What the queue and worker routes need from the outside world, as protocols.

The composition root (`api.wiring`) plugs in `projections.queue_read.QueueReadModel` and
`api.workers_view.WorkersView`; unit tests plug in fakes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from projections.queue_read import QueueView


class QueueReader(Protocol):
    """Queues with their counts, and their statistics."""

    async def queues(self, tenant: str) -> tuple[dict[str, QueueView], str]:
        """Every queue of `tenant` by name, and where the counts came from."""
        ...

    async def stats(
        self, tenant: str, queue: str, since: datetime, until: datetime, bucket: timedelta
    ) -> tuple[list[dict[str, Any]], dict[datetime, dict[str, list[int]]]]:
        """Summed statistics rows per bucket start, and their histograms."""
        ...


class WorkerReader(Protocol):
    """The workers seen on the workers topic."""

    timeout_seconds: float

    async def workers(self, tenant: str, *, include_gone: bool) -> list[dict[str, Any]]:
        """Workers (live ones unless `include_gone`), their attempts filtered to `tenant`."""
        ...
