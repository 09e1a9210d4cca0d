"""Commands: what producers, the API and workers ask of the scheduler.

Each command type has a frozen payload model. The same models validate REST input and
records read from the commands topic, so both paths behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SUBMIT_TASK: Final = "task.submit"
CANCEL_TASK: Final = "task.cancel"
START_ATTEMPT: Final = "attempt.start"
HEARTBEAT_ATTEMPT: Final = "attempt.heartbeat"
SUCCEED_ATTEMPT: Final = "attempt.succeed"
FAIL_ATTEMPT: Final = "attempt.fail"
CANCEL_ATTEMPT: Final = "attempt.cancel"
REDRIVE_TASK: Final = "task.redrive"
# Scheduler-internal triggers: decided like commands, never written to the log.
FIRE_TIMER: Final = "timer.fire"
DISPATCH_TASK: Final = "task.dispatch"

QUEUE_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"


def _in_utc(moment: datetime) -> datetime:
    # Any offset Python accepts (up to ±23:59) is accepted, then stored in UTC: Postgres
    # refuses offsets beyond ±15:59, and one such timestamp would stall the projector.
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timestamp with an offset, converted to UTC."""


def _portable(value: Any) -> Any:
    """A payload every JSON reader keeps as it is: no integer beyond 64 bits (the API
    refuses one too; a producer writing to Kafka gets a rejection)."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValueError(f"is not portable JSON: {exc}") from None
    return value


PortablePayload = Annotated[Any, AfterValidator(_portable)]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubmitTask(_Payload):
    """Create a task; it runs now, or at `run_at`.

    Null (or absent) `queue`, `priority`, `max_attempts`, `timeout_seconds` and backoff
    bounds take the task type's registered default, else the global one; the scheduler
    resolves them and records the values in `task.submitted` (see `domain/defaults.py`).
    """

    queue: str | None = Field(
        None, pattern=QUEUE_PATTERN, description="Null: the type's queue, else `default`."
    )
    type: str = Field(min_length=1, max_length=200)
    payload: PortablePayload = None
    priority: int | None = Field(
        None, ge=0, le=9, description="0 (least) to 9 (most urgent); null: the default."
    )
    max_attempts: int | None = Field(None, ge=1, le=100, description="Null: the default.")
    timeout_seconds: float | None = Field(
        None, gt=0, le=7 * 86400, description="Per attempt; null: the default."
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    run_at: UtcDatetime | None = None
    backoff_base_seconds: float | None = Field(None, ge=0, le=86400)
    backoff_max_seconds: float | None = Field(None, ge=0, le=7 * 86400)


class CancelTask(_Payload):
    """Cancel a task: at once if it waits; a running one is asked to stop first."""

    reason: str = Field("", max_length=1000)


class StartAttempt(_Payload):
    """A worker reports that it started the dispatched attempt."""

    attempt: int = Field(ge=1)
    dispatch_id: str
    worker: str = Field(min_length=1, max_length=200)
    started_at: UtcDatetime | None = Field(
        None,
        description="When the handler started, by the worker's clock; the scheduler keeps "
        "it within [dispatch time, decision time], so a skewed clock cannot move it out.",
    )


class HeartbeatAttempt(_Payload):
    """A worker reports that a running attempt is alive."""

    attempt: int = Field(ge=1)
    worker: str = Field(min_length=1, max_length=200)


class SucceedAttempt(_Payload):
    """A worker reports that an attempt returned."""

    attempt: int = Field(ge=1)
    worker: str = Field(min_length=1, max_length=200)
    result: Any = None


class FailAttempt(_Payload):
    """A worker reports that an attempt raised."""

    attempt: int = Field(ge=1)
    worker: str = Field(min_length=1, max_length=200)
    error: str = Field(max_length=10_000)
    traceback: str = Field("", max_length=100_000)
    retryable: bool = True


class CancelAttempt(_Payload):
    """A worker reports that it stopped an attempt whose cancel was requested."""

    attempt: int = Field(ge=1)
    worker: str = Field(min_length=1, max_length=200)


class RedriveTask(_Payload):
    """Run a dead task again, with a fresh budget of attempts."""

    reason: str = Field("", max_length=1000)


class FireTimer(_Payload):
    """A durable timer of the task came due (scheduler-internal)."""

    kind: str = Field(pattern=r"^(run_at|dispatch|lease|timeout)$")
    attempt: int = 0
    # A `run_at` timer may fire this long before the time: the task is made ready and
    # dispatched ahead, and its worker holds the start until the time (`not_before`).
    lead_ms: int = Field(0, ge=0, le=60_000)


class DispatchTask(_Payload):
    """Hand a ready task to its queue's workers (scheduler-internal)."""

    dispatch_id: str


PAYLOADS: Final[dict[str, type[_Payload]]] = {
    SUBMIT_TASK: SubmitTask,
    CANCEL_TASK: CancelTask,
    START_ATTEMPT: StartAttempt,
    HEARTBEAT_ATTEMPT: HeartbeatAttempt,
    SUCCEED_ATTEMPT: SucceedAttempt,
    FAIL_ATTEMPT: FailAttempt,
    CANCEL_ATTEMPT: CancelAttempt,
    REDRIVE_TASK: RedriveTask,
    FIRE_TIMER: FireTimer,
    DISPATCH_TASK: DispatchTask,
}

# Command types that producers may publish onto the commands topic.
PUBLIC_COMMANDS: Final = frozenset(
    {
        SUBMIT_TASK,
        CANCEL_TASK,
        REDRIVE_TASK,
        START_ATTEMPT,
        HEARTBEAT_ATTEMPT,
        SUCCEED_ATTEMPT,
        FAIL_ATTEMPT,
        CANCEL_ATTEMPT,
    }
)


def parse_payload(type_: str, payload: dict[str, Any]) -> _Payload:
    """Validate a command's payload against its type's model (raises `ValueError`)."""
    model = PAYLOADS.get(type_)
    if model is None:
        raise ValueError(f"unknown command type {type_!r}")
    return model.model_validate(payload)


def iso(moment: datetime) -> str:
    """The wire form of a timestamp."""
    return moment.isoformat()
