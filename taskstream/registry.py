"""The `@task` registry: which handler runs which task type, and what it gets to see.

    from taskstream.registry import task

    @task("emails.send", queue="emails", priority=7, max_attempts=5, timeout_seconds=30)
    async def send_email(payload, ctx):
        ctx.log(f"sending to {payload['to']}")
        ...
        return {"sent": True}

A handler takes `(payload)` or `(payload, ctx)`, may be `async def` (run on the worker's
event loop) or a plain function (run in the worker's thread pool), returns a
JSON-serialisable result and raises to fail the attempt; `NonRetryableError` fails it
for good. A cancelled task's handler is told to stop (see `TaskContext.cancelled`).
Importing a module with `@task` handlers registers them in `default_registry`;
the worker imports the modules named by `--tasks`.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from taskstream.domain.commands import QUEUE_PATTERN
from taskstream.domain.errors import TaskstreamError

F = TypeVar("F", bound=Callable[..., Any])

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_MAX_NAME = 200  # the `type` limit of `task.submit`
_MAX_TIMEOUT = 7 * 86400.0


class NonRetryableError(TaskstreamError):
    """Raise from a handler to fail the attempt without retrying (bad input, a 4xx, ...)."""


class RegistrationError(TaskstreamError, ValueError):
    """A handler that cannot be registered (bad name, signature or default)."""


def _discard_log(level: str, message: str) -> None:
    """Where `ctx.log` goes when nobody listens (a context built by hand, in a test)."""


def _no_heartbeat() -> None:
    """What `ctx.heartbeat()` does when nobody listens."""


@dataclass(slots=True)
class TaskContext:
    """What a handler knows about the attempt it runs in."""

    task_id: str
    attempt: int
    tenant: str = "default"
    queue: str = "default"
    type: str = ""
    correlation_id: str | None = None
    idempotency_key: str = field(init=False)
    _emit: Callable[[str, str], None] = field(default=_discard_log, repr=False)
    _beat: Callable[[], None] = field(default=_no_heartbeat, repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        # Stable across redeliveries of the same attempt, new for each retry.
        self.idempotency_key = f"{self.task_id}:{self.attempt}"

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to this attempt's log (the task's live tail and history)."""
        lowered = level.lower()
        if lowered not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
        self._emit(lowered, str(message))

    def heartbeat(self) -> None:
        """Tell the scheduler this attempt is alive now (extends its lease); cheap, never blocks.

        The worker already heartbeats every `lease_seconds / 3`; call this from a handler
        whose own progress is the better liveness signal. Calls are coalesced.
        """
        self._beat()

    @property
    def cancelled(self) -> bool:
        """True once someone cancelled this task while the attempt runs: stop soon.

        An `async` handler is cancelled for you (`asyncio.CancelledError` at its next
        await). A plain function runs in a thread, which cannot be interrupted: check
        `ctx.cancelled` between steps and return (or raise) when it is true. After
        `TASKSTREAM_WORKER_CANCEL_GRACE_SECONDS` the worker reports the attempt cancelled
        anyway and stops waiting for the thread; whatever it returns then is dropped.
        """
        return self._cancel.is_set()


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A registered handler and the defaults its task type asks for."""

    name: str
    handler: Callable[..., Any]
    is_async: bool
    takes_context: bool
    max_attempts: int | None = None
    timeout_seconds: float | None = None
    queue: str | None = None
    priority: int | None = None
    backoff_base_seconds: float | None = None
    backoff_max_seconds: float | None = None

    def defaults(self) -> dict[str, Any]:
        """The defaults this type sets, as workers announce them to the scheduler."""
        fields = {
            "queue": self.queue,
            "priority": self.priority,
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
            "backoff_base_seconds": self.backoff_base_seconds,
            "backoff_max_seconds": self.backoff_max_seconds,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def call(self, payload: Any, ctx: TaskContext) -> Any:
        """Invoke the handler with the arguments it declares (a coroutine if it is async)."""
        if self.takes_context:
            return self.handler(payload, ctx)
        return self.handler(payload)


def _is_async(handler: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _takes_context(name: str, handler: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError) as exc:
        raise RegistrationError(f"task {name!r}: cannot read the handler's signature") from exc
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    if len(positional) in (1, 2):
        return len(positional) == 2
    raise RegistrationError(
        f"task {name!r}: a handler takes (payload) or (payload, ctx), "
        f"not {len(positional)} required positional arguments"
    )


def _check_defaults(
    name: str,
    max_attempts: int | None,
    timeout_seconds: float | None,
    queue: str | None,
    priority: int | None = None,
    backoff: tuple[float | None, float | None] = (None, None),
) -> None:
    if not name or len(name) > _MAX_NAME or name != name.strip():
        raise RegistrationError(
            f"task name must be 1 to {_MAX_NAME} characters without surrounding spaces: {name!r}"
        )
    if max_attempts is not None and not 1 <= max_attempts <= 100:
        raise RegistrationError(f"task {name!r}: max_attempts must be 1..100, not {max_attempts}")
    if timeout_seconds is not None and not 0 < timeout_seconds <= _MAX_TIMEOUT:
        raise RegistrationError(
            f"task {name!r}: timeout_seconds must be > 0 and <= {_MAX_TIMEOUT:.0f}, "
            f"not {timeout_seconds}"
        )
    if queue is not None and not re.fullmatch(QUEUE_PATTERN, queue):
        raise RegistrationError(f"task {name!r}: queue must match {QUEUE_PATTERN}, not {queue!r}")
    if priority is not None and not 0 <= priority <= 9:
        raise RegistrationError(f"task {name!r}: priority must be 0..9, not {priority}")
    base, ceiling = backoff
    if base is not None and not 0 <= base <= 86400:
        raise RegistrationError(f"task {name!r}: backoff_base_seconds must be 0..86400, not {base}")
    if ceiling is not None and not 0 <= ceiling <= _MAX_TIMEOUT:
        raise RegistrationError(
            f"task {name!r}: backoff_max_seconds must be 0..{_MAX_TIMEOUT:.0f}, not {ceiling}"
        )


class Registry:
    """Task type name -> `TaskSpec`."""

    def __init__(self) -> None:
        self._specs: dict[str, TaskSpec] = {}

    def register(
        self,
        name: str,
        handler: Callable[..., Any],
        *,
        max_attempts: int | None = None,
        timeout_seconds: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        backoff_base_seconds: float | None = None,
        backoff_max_seconds: float | None = None,
    ) -> TaskSpec:
        """Register `handler` for task type `name` (a second, different handler raises).

        The defaults apply to submits of this type that omit the field (explicit submit
        value > these > global settings); workers announce them to the scheduler."""
        if not callable(handler):
            raise RegistrationError(f"task {name!r}: handler is not callable: {handler!r}")
        backoff = (backoff_base_seconds, backoff_max_seconds)
        _check_defaults(name, max_attempts, timeout_seconds, queue, priority, backoff)
        spec = TaskSpec(
            name=name,
            handler=handler,
            is_async=_is_async(handler),
            takes_context=_takes_context(name, handler),
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            queue=queue,
            priority=priority,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )
        existing = self._specs.get(name)
        if existing is not None and existing != spec:
            raise RegistrationError(
                f"task {name!r} is already registered to {_describe(existing.handler)}; "
                f"cannot register {_describe(handler)} too"
            )
        self._specs[name] = spec
        return spec

    def task(
        self,
        name: str,
        *,
        max_attempts: int | None = None,
        timeout_seconds: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        backoff_base_seconds: float | None = None,
        backoff_max_seconds: float | None = None,
    ) -> Callable[[F], F]:
        """Decorator form of `register`; the decorated function is returned unchanged."""

        def decorate(handler: F) -> F:
            self.register(
                name,
                handler,
                max_attempts=max_attempts,
                timeout_seconds=timeout_seconds,
                queue=queue,
                priority=priority,
                backoff_base_seconds=backoff_base_seconds,
                backoff_max_seconds=backoff_max_seconds,
            )
            return handler

        return decorate

    def update(self, other: Registry) -> None:
        """Add every spec of `other` (conflicting names raise)."""
        for spec in other:
            existing = self._specs.get(spec.name)
            if existing is not None and existing != spec:
                raise RegistrationError(
                    f"task {spec.name!r} is registered twice: to {_describe(existing.handler)} "
                    f"and to {_describe(spec.handler)}"
                )
            self._specs[spec.name] = spec

    def get(self, name: str) -> TaskSpec | None:
        """The spec of task type `name`, or None."""
        return self._specs.get(name)

    def names(self) -> list[str]:
        """Registered task type names, sorted."""
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)


def _describe(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", "?")
    qualname = getattr(handler, "__qualname__", type(handler).__qualname__)
    return f"{module}.{qualname}"


def missing_handler_message(type_: str, queues: list[str]) -> str:
    """Why an attempt of an unregistered type fails (shown to whoever reads the task)."""
    return (
        f"no handler registered for type {type_} on this worker (queues {', '.join(queues)}); "
        "register it with @task or start the worker with --tasks MODULE"
    )


# Where `@task` registers: importing a handler module is how a worker learns its handlers.
default_registry = Registry()


def task(
    name: str,
    *,
    max_attempts: int | None = None,
    timeout_seconds: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    backoff_base_seconds: float | None = None,
    backoff_max_seconds: float | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as the handler of task type `name`.

    The keyword defaults apply to submits of this type that omit the field."""
    return default_registry.task(
        name,
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        queue=queue,
        priority=priority,
        backoff_base_seconds=backoff_base_seconds,
        backoff_max_seconds=backoff_max_seconds,
    )
