"""What the HTTP layer needs from the outside world, as protocols.

The composition root (`api.wiring`) plugs in the Postgres read model and the Kafka
producer; unit tests plug in fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from api.auth import KeyStore
from api.queue_ports import QueueReader, WorkerReader
from api.ratelimit import RateLimiter
from projections.search.backend import SearchBackend
from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import InfrastructureError


class TaskReader(Protocol):
    """The read side of the Postgres projection (`projections.read.ReadModel`)."""

    async def get_task(self, tenant: str, task_id: str) -> dict[str, Any] | None:
        """A task's current state, or None."""
        ...

    async def list_tasks(
        self,
        tenant: str,
        *,
        status: str | None,
        queue: str | None,
        type: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of tasks, newest first, and the cursor of the next (ValueError on a bad one)."""
        ...

    async def task_events(
        self, tenant: str, task_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """A task's events in order."""
        ...

    async def count_by_status(self, tenant: str) -> dict[str, int]:
        """How many tasks are in each status."""
        ...

    async def task_attempts(self, tenant: str, task_id: str) -> list[dict[str, Any]]:
        """A task's attempts in order (empty if none or unknown)."""
        ...

    async def task_logs(
        self,
        tenant: str,
        task_id: str,
        *,
        attempt: int | None = None,
        after_attempt: int = 0,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """A task's log lines in (attempt, seq) order, after the given position."""
        ...

    async def task_history(
        self, tenant: str, task_id: str, *, at: int | datetime | None = None
    ) -> list[dict[str, Any]]:
        """A task's archived events in order, up to version or time `at`."""
        ...


class ScheduleReader(Protocol):
    """The schedules read model (`projections.schedule_read.ScheduleReadModel`)."""

    async def get_schedule(
        self, tenant: str, schedule_id: str, *, fires: int = 20
    ) -> dict[str, Any] | None:
        """A schedule with its recent fires, or None."""
        ...

    async def list_schedules(
        self, tenant: str, *, include_deleted: bool, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of schedules, newest first (ValueError on a bad cursor)."""
        ...


class CommandSink(Protocol):
    """Appends commands to the commands topic."""

    async def append(self, command: Envelope) -> None:
        """Return once the broker acknowledged `command`; raise `CommandLogUnavailable`."""
        ...

    async def append_many(self, commands: list[Envelope]) -> None:
        """Return once the broker acknowledged every command; raise `CommandLogUnavailable`."""
        ...


class Probe(Protocol):
    """One readiness check."""

    name: str

    async def check(self) -> None:
        """Return if the dependency is usable; raise otherwise."""
        ...


class KeyAdmin(Protocol):
    """Creates, lists and revokes Postgres API keys (`api.keys_pg.KeyRepo`)."""

    async def create(
        self, tenant: str, scopes: str | list[str], *, name: str = "", description: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new key's row and the key itself (shown once)."""
        ...

    async def list(
        self, tenant: str | None, *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Keys newest first, and the next page's cursor (ValueError on a bad one)."""
        ...

    async def revoke(self, key_id: str, *, tenant: str | None = None) -> dict[str, Any] | None:
        """Revoke a key; its row, or None if unknown (in `tenant`)."""
        ...


class CommandLogUnavailable(InfrastructureError):
    """The command could not be appended.

    `written` is False when the broker certainly did not get it, None when it may have
    (the acknowledgement did not come in time).
    """

    def __init__(self, message: str, *, written: bool | None) -> None:
        super().__init__(message)
        self.written = written


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Adapters:
    """Everything the routes use, built once per process (or per test)."""

    read_model: TaskReader
    commands: CommandSink
    keys: KeyStore
    probes: tuple[Probe, ...] = ()
    clock: Callable[[], datetime] = field(default=utc_now)
    schedules: ScheduleReader | None = None
    search: SearchBackend | None = None
    queue_reads: QueueReader | None = None
    workers: WorkerReader | None = None
    key_admin: KeyAdmin | None = None
    limiter: RateLimiter | None = None
