"""Event types: what happened to a task. Past tense, stable strings.

Payload fields per type (timestamps are ISO 8601 UTC strings):

- `task.submitted`: the SubmitTask fields with omitted ones resolved, `status` (`pending`
  or `scheduled`), `run_at`, and `defaults`: `{field: "type" | "global"}` for each field
  the submit omitted (absent from records written before defaults were resolved here).
- `task.ready`: `{}` — a scheduled task's time came; `{not_before}` when its timer fired
  ahead of the time (the worker holds the start until then).
- `task.dispatched`: `attempt`, `dispatch_id`, `dispatched_at`.
- `attempt.started`: `attempt`, `worker`, `started_at`.
- `attempt.failed`: `attempt`, `worker`, `error`, `traceback`, `finished_at`, `retry_at`,
  `backoff_seconds` — failed, another attempt follows at `retry_at`.
- `attempt.timed_out`: `attempt`, `worker`, `error`, `cause` (`lease` or `timeout`), `finished_at`,
  `retry_at`, `backoff_seconds`.
- `task.succeeded`: `attempt`, `worker`, `result`, `finished_at`.
- `task.dead_lettered`: `attempt`, `worker`, `error`, `traceback`, `finished_at`,
  `reason`, and `cause` when a timer ended it.
- `task.cancel_requested`: `reason`, `attempt`, `worker`, `requested_at` — a running
  attempt is asked to stop (the scheduler tells its worker on the control topic); the
  status stays `running` until the attempt ends, and however it ends, the task ends
  `cancelled`: no retry follows a cancel request.
- `task.cancelled`: `reason`, `cancelled_at`; when a running attempt ended it, also
  `attempt`, `worker`, `finished_at`, `attempt_outcome` (`cancelled` when the worker
  stopped it; `succeeded`, `failed` or `timed_out` when it ended otherwise first) and, for
  a failure, `error` and `traceback`.
- `task.redriven`: `redrive` (1, 2, ... per task), `reason`, `attempt_base` (attempts
  before this redrive), `redriven_at` — a dead task is `pending` again with a fresh budget
  of `max_attempts`; earlier attempts are kept and numbering goes on.
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
TASK_CANCEL_REQUESTED: Final = "task.cancel_requested"
TASK_CANCELLED: Final = "task.cancelled"
TASK_REDRIVEN: Final = "task.redriven"
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
    TASK_CANCEL_REQUESTED,
    TASK_CANCELLED,
    TASK_REDRIVEN,
    COMMAND_REJECTED,
)

CURRENT_SCHEMA_VERSION: Final = 1
