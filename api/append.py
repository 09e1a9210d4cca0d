"""Appending commands from a request: await the broker, answer 503 problems on failure."""

from __future__ import annotations

import logging
from collections import Counter

from api.metrics import ApiMetrics
from api.ports import CommandLogUnavailable, CommandSink
from api.problems import ProblemError
from taskstream.domain.envelope import Envelope

log = logging.getLogger(__name__)

_UNWRITTEN = "the command log is unavailable; nothing was written, retry"
_UNKNOWN = (
    "the command log did not acknowledge in time; the command may or may not have been "
    "written. Retry with the same idempotency key to be safe from duplicates"
)


async def append_commands(commands: list[Envelope], sink: CommandSink, metrics: ApiMetrics) -> None:
    """Append every command and await the acknowledgements; a 503 problem if the log is
    unavailable (saying whether anything may have been written)."""
    try:
        if len(commands) == 1:
            await sink.append(commands[0])
        else:
            await sink.append_many(commands)
    except CommandLogUnavailable as exc:
        outcome = "unwritten" if exc.written is False else "unknown"
        for type_, count in Counter(c.type for c in commands).items():
            metrics.append_failures.labels(type_, outcome).inc(count)
        first = commands[0]
        log.warning(
            "command not appended",
            extra={
                "command_type": first.type,
                "command_id": first.event_id,
                "task_id": first.task_id,
                "commands": len(commands),
                "outcome": outcome,
                "error": str(exc),
            },
        )
        raise ProblemError(
            503,
            _UNWRITTEN if exc.written is False else _UNKNOWN,
            slug="command-log-unavailable",
            title="Command log unavailable",
            headers={"Retry-After": "1"},
        ) from exc
    # Per type, not per command: a 1,000-task batch would spend ~50 ms in counters.
    for type_, count in Counter(c.type for c in commands).items():
        metrics.commands.labels(type_).inc(count)
