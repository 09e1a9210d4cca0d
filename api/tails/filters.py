"""Which records a tail subscriber wants: pure predicates over `TailRecord`.

`queue` and `type` are attributes of the task, not of each event; a record that does not
carry them is matched against the attributes looked up for its task (see `attrs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.tails.records import Stream, TailRecord

STATUSES = frozenset({"scheduled", "pending", "running", "succeeded", "dead", "cancelled"})


class FilterError(ValueError):
    """A subscription that asks for something that cannot be served."""


@dataclass(frozen=True, slots=True)
class TailFilter:
    """A subscription's filter. Every field set must match (AND)."""

    stream: Stream
    task_id: str | None = None
    queue: str | None = None
    type: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.stream == "logs":
            if not self.task_id:
                raise FilterError("a logs tail needs a task_id")
            if self.queue or self.type or self.status:
                raise FilterError("a logs tail filters by task_id only")
        if self.status is not None and self.status not in STATUSES:
            raise FilterError(f"status must be one of {sorted(STATUSES)}")

    @property
    def needs_task(self) -> bool:
        """True if matching needs the task's queue or type."""
        return self.queue is not None or self.type is not None

    def matches_record(self, record: TailRecord) -> bool:
        """The checks that need nothing but the record (tenant is checked by the hub)."""
        if self.task_id is not None and record.task_id != self.task_id:
            return False
        return self.status is None or record.status == self.status

    def matches_task(self, queue: str | None, task_type: str | None) -> bool:
        """The checks on the task's attributes (None: unknown, which does not match)."""
        if self.queue is not None and queue != self.queue:
            return False
        return self.type is None or task_type == self.type
