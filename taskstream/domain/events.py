"""Event types: what happened to a task. Past tense, stable strings.

Payload fields per type (timestamps are ISO 8601 UTC strings):

- `task.submitted`: the SubmitTask fields, `status` (`pending` or `scheduled`), `run_at`.
- `task.ready`: `{}` — a scheduled task's time came.
- `task.dispatched`: `attempt`, `dispatch_id`, `dispatched_at`.
- `attempt.started`: `attempt`, `worker`, `started_at`.
- `attempt.failed`: `attempt`, `worker`, `error`, `traceback`, `finished_at`, `retry_at`,
  `backoff_seconds` — failed, another attempt follows at `retry_at`.
- `attempt.timed_out`: `attempt`, `worker`, `error`, `cause` (`lease` or `timeout`), `finished_at`,
  `retry_at`, `backoff_seconds`.
- `task.succeeded`: `attempt`, `worker`, `result`, `finished_at`.
- `task.dead_lettered`: `attempt`, `worker`, `error`, `traceback`, `finished_at`,
  `reason`, and `cause` when a timer ended it.
- `task.cancelled`: `reason`, `cancelled_at`.
- `command.rejected`: `command_id`, `command_type`, `reason`. Carries the task's current
  version and changes nothing but the set of commands already seen.
"""

from __future__ import annotations

from typing import Final

TASK_SUBMITTED: Final = "task.submitted"
TASK_READY: Final = "task.ready"
TASK_DISPATCHED: Final = "task.dispatched"
ATTEMPT_STARTED: Final = "attempt.started"
ATTEMPT_FAILED: Final = "attempt.failed"
ATTEMPT_TIMED_OUT: Final = "attempt.timed_out"
TASK_SUCCEEDED: Final = "task.succeeded"
TASK_DEAD_LETTERED: Final = "task.dead_lettered"
TASK_CANCELLED: Final = "task.cancelled"
COMMAND_REJECTED: Final = "command.rejected"

ALL_EVENT_TYPES: Final = (
    TASK_SUBMITTED,
    TASK_READY,
    TASK_DISPATCHED,
    ATTEMPT_STARTED,
    ATTEMPT_FAILED,
    ATTEMPT_TIMED_OUT,
    TASK_SUCCEEDED,
    TASK_DEAD_LETTERED,
    TASK_CANCELLED,
    COMMAND_REJECTED,
)

CURRENT_SCHEMA_VERSION: Final = 1
