"""Log lines of running attempts, from `ctx.log(...)` and the `taskstream.task` logger.

The lines of one attempt are numbered from 1 (`seq`) and written in order, by one writer
task per worker. A handler running in a thread hands its lines to the event loop. Records
of the standard logger `taskstream.task` are captured for the attempt whose context they
are logged in (a context variable, copied into the handler's task or thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from streams.worker.outcome import truncate
from taskstream.producer import CommandProducer

log = logging.getLogger(__name__)

TASK_LOGGER = "taskstream.task"

CURRENT: contextvars.ContextVar[AttemptLog | None] = contextvars.ContextVar(
    "taskstream_attempt_log", default=None
)


class LogShipper:
    """Writes log lines to the logs topic in the order they were emitted."""

    def __init__(self, producer: CommandProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._queue: asyncio.Queue[tuple[bytes, dict[str, Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="log-shipper")

    def put(self, key: bytes, record: dict[str, Any]) -> None:
        """Queue one line (event-loop thread only)."""
        self._queue.put_nowait((key, record))

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            key, record = item
            try:
                await self._producer.send_raw(self._topic, key, record)
            except Exception as exc:  # a lost log line must not stop the worker
                log.warning("log line not written", extra={"error": repr(exc)})


class AttemptLog:
    """The log of one attempt: numbers, bounds and ships its lines."""

    def __init__(
        self,
        shipper: LogShipper,
        *,
        task_id: str,
        tenant: str,
        attempt: int,
        max_lines: int,
        max_chars: int,
    ) -> None:
        self._shipper = shipper
        self._key = task_id.encode()
        self._base = {"task_id": task_id, "tenant": tenant, "attempt": attempt}
        self._max_lines = max_lines
        self._max_chars = max_chars
        self._seq = 0
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def emit(self, level: str, message: str) -> None:
        """Append a line; callable from the event loop or from a handler thread."""
        at = datetime.now(UTC)
        if threading.get_ident() == self._loop_thread:
            self._write(level, message, at)
        else:
            self._loop.call_soon_threadsafe(self._write, level, message, at)

    @property
    def lines(self) -> int:
        """Lines written so far."""
        return min(self._seq, self._max_lines + 1)

    def _write(self, level: str, message: str, at: datetime) -> None:
        self._seq += 1
        if self._seq > self._max_lines + 1:
            return
        if self._seq == self._max_lines + 1:
            level = "warning"
            message = (
                f"log limit of {self._max_lines} lines reached; later lines of this attempt "
                "are dropped (TASKSTREAM_WORKER_LOG_LINES_MAX)"
            )
        record = {
            **self._base,
            "seq": self._seq,
            "at": at.isoformat(),
            "level": level,
            "message": truncate(message, self._max_chars),
        }
        self._shipper.put(self._key, record)


class TaskLogHandler(logging.Handler):
    """Sends `taskstream.task` records to the log of the attempt they were logged in."""

    def emit(self, record: logging.LogRecord) -> None:
        """Route one record (dropped outside an attempt: it still reaches the process log)."""
        sink = CURRENT.get()
        if sink is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            sink.emit(record.levelname.lower(), message)
        except Exception:
            self.handleError(record)


def install_task_log_handler() -> TaskLogHandler:
    """Attach the capturing handler to the `taskstream.task` logger (its level still applies)."""
    handler = TaskLogHandler()
    logger = logging.getLogger(TASK_LOGGER)
    logger.addHandler(handler)
    return handler


def remove_task_log_handler(handler: TaskLogHandler) -> None:
    """Detach it again."""
    logging.getLogger(TASK_LOGGER).removeHandler(handler)
