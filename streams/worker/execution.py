"""Running one started attempt: the handler, its timeout, its log and heartbeats, its report.

Async handlers run as tasks on the worker's event loop; a timeout or a shutdown cancels
them. Sync handlers run in the worker's thread pool (as many threads as slots). A thread
cannot be killed: when a sync handler overruns its timeout the attempt is reported as timed
out at once, but its slot stays busy until the function returns, and a worker stopping
with such a thread still running exits without waiting for it.

A cancelled task (a `cancel` record on the control topic, see `control.py`) stops the same
way: an async handler is cancelled; a sync handler sees `ctx.cancelled` and gets
`worker_cancel_grace_seconds` to return. Then the attempt is reported `attempt.cancel`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.worker.dispatch import Dispatch
from streams.worker.heartbeat import AttemptBeats
from streams.worker.logsink import CURRENT, AttemptLog, LogShipper
from streams.worker.metrics import WorkerMetrics
from streams.worker.outcome import Failure, check_result, failure, failure_from
from streams.worker.reports import Reporter
from taskstream.registry import Registry, TaskContext, TaskSpec, missing_handler_message

log = logging.getLogger(__name__)

# How long a cancelled async handler gets to unwind before the worker moves on.
_CANCEL_GRACE = 5.0


@dataclass(eq=False, slots=True)
class Running:
    """An attempt in progress, abortable by the shutdown and cancellable by its task's owner."""

    dispatch: Dispatch
    inner: asyncio.Future[Any] | None = None
    abort_reason: str | None = None
    # Set from the event loop, read by the handler's thread through `ctx.cancelled`.
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    cancel_asked: asyncio.Event = field(default_factory=asyncio.Event)
    # True once the runner stopped the handler for a cancel (not for a timeout or shutdown).
    stopped: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The `attempt.start` command this run began with, and whether the scheduler refused it.
    start_id: str = ""
    refused: bool = False

    def abort(self, reason: str) -> None:
        """Cancel the handler; the attempt is reported failed with `reason`."""
        self.abort_reason = reason
        if self.inner is not None and not self.inner.done():
            self.inner.cancel()

    def cancel(self) -> None:
        """The task was cancelled: stop the handler; the attempt is reported cancelled."""
        self.cancel_flag.set()
        self.cancel_asked.set()

    def refuse(self) -> None:
        """The scheduler refused this run's start: stop the handler and report nothing."""
        self.refused = True
        self.cancel()


@dataclass(frozen=True, slots=True)
class LogLimits:
    """Bounds of one attempt's log."""

    max_lines: int
    max_chars: int


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> Callable[[], None]:
    """`fn`, callable from any thread, always run on `loop`."""
    loop_thread = threading.get_ident()

    def call() -> None:
        if threading.get_ident() == loop_thread:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    return call


class AttemptRunner:
    """Runs started attempts and reports their outcome."""

    def __init__(
        self,
        *,
        registry: Registry,
        queues: list[str],
        reporter: Reporter,
        beats: AttemptBeats,
        shipper: LogShipper,
        metrics: WorkerMetrics,
        executor: Executor,
        log_limits: LogLimits,
        max_result_bytes: int,
        cancel_grace: float = 10.0,
    ) -> None:
        self._registry = registry
        self._queues = queues
        self._reporter = reporter
        self._beats = beats
        self._shipper = shipper
        self._metrics = metrics
        self._executor = executor
        self._log_limits = log_limits
        self._max_result_bytes = max_result_bytes
        self._cancel_grace = cancel_grace
        self._threads_lock = threading.Lock()
        self._threads_busy = 0

    @property
    def threads_busy(self) -> int:
        """Sync handlers running in the pool right now (a stopping worker cannot wait for them)."""
        with self._threads_lock:
            return self._threads_busy

    def _call_sync(self, spec: TaskSpec, payload: Any, ctx: TaskContext) -> Any:
        with self._threads_lock:
            self._threads_busy += 1
        try:
            return spec.call(payload, ctx)
        finally:
            with self._threads_lock:
                self._threads_busy -= 1

    async def run(self, running: Running) -> None:
        """Run the handler of a started attempt and report how it ended."""
        d = running.dispatch
        spec = self._registry.get(d.type)
        if spec is None:
            miss = failure(missing_handler_message(d.type, self._queues), retryable=False)
            await self._report(d, "unregistered", None, miss, 0.0)
            return
        self._beats.add(d)
        try:
            began = time.monotonic()
            result, problem = await self._invoke(spec, running)
            if running.refused:
                log.info(
                    "start refused by the scheduler: handler stopped, nothing reported",
                    extra={"task_id": d.task_id, "attempt": d.attempt},
                )
            elif running.stopped:
                await self._reporter.cancelled(d)
                self._metrics.duration.labels(d.type, "cancelled").observe(time.monotonic() - began)
                log.info("attempt cancelled", extra={"task_id": d.task_id, "attempt": d.attempt})
            else:
                await self._report(d, d.type, result, problem, time.monotonic() - began)
        finally:
            self._beats.remove(d)
        if running.inner is not None and not running.inner.done():
            # A sync handler past its timeout or cancel grace: its thread still holds the slot.
            log.warning(
                "sync handler still running after its attempt ended; its slot stays busy",
                extra={"task_id": d.task_id, "attempt": d.attempt, "type": d.type},
            )
            await asyncio.wait({running.inner})

    def _context(self, running: Running) -> tuple[TaskContext, contextvars.Context]:
        d = running.dispatch
        loop = asyncio.get_running_loop()
        sink = AttemptLog(
            self._shipper,
            task_id=d.task_id,
            tenant=d.tenant,
            attempt=d.attempt,
            max_lines=self._log_limits.max_lines,
            max_chars=self._log_limits.max_chars,
        )
        beats, dispatch_id = self._beats, d.dispatch_id
        ctx = TaskContext(
            task_id=d.task_id,
            attempt=d.attempt,
            tenant=d.tenant,
            queue=d.queue,
            type=d.type,
            correlation_id=d.correlation_id,
            _emit=sink.emit,
            _beat=_on_loop(loop, lambda: beats.request(dispatch_id)),
            _cancel=running.cancel_flag,
        )
        context = contextvars.copy_context()
        context.run(CURRENT.set, sink)
        return ctx, context

    async def _invoke(self, spec: TaskSpec, running: Running) -> tuple[Any, Failure | None]:
        d = running.dispatch
        ctx, context = self._context(running)
        loop = asyncio.get_running_loop()
        if spec.is_async:
            try:
                coro = context.run(spec.call, d.payload, ctx)
            except Exception as exc:
                return None, failure_from(exc)
            running.inner = loop.create_task(coro, context=context)
        else:
            running.inner = loop.run_in_executor(
                self._executor, context.run, self._call_sync, spec, d.payload, ctx
            )
        inner = running.inner
        asked = asyncio.ensure_future(running.cancel_asked.wait())
        try:
            await asyncio.wait(
                {inner, asked}, timeout=d.timeout_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            asked.cancel()
        if not inner.done() and running.cancel_flag.is_set():
            # Cancelled while it runs: stop it (an async handler at once, a sync one when it
            # looks at `ctx.cancelled`) and report the attempt cancelled, stopped or not.
            running.stopped = True
            if spec.is_async:
                inner.cancel()
            await asyncio.wait({inner}, timeout=self._cancel_grace)
            return None, None
        if not inner.done():
            if spec.is_async:
                inner.cancel()
                await asyncio.wait({inner}, timeout=_CANCEL_GRACE)
            return None, failure(f"timed out after {d.timeout_seconds:g}s", retryable=True)
        if inner.cancelled():
            return None, failure(running.abort_reason or "handler was cancelled", retryable=True)
        error = inner.exception()
        if error is not None:
            return None, failure_from(error)
        result = inner.result()
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            return None, failure(
                f"the handler of {spec.name} returned an awaitable from a plain function; "
                "declare it `async def` so the worker awaits it",
                retryable=False,
            )
        return check_result(result, self._max_result_bytes)

    async def _report(
        self, d: Dispatch, label: str, result: Any, problem: Failure | None, took: float
    ) -> None:
        fields = {"task_id": d.task_id, "attempt": d.attempt, "type": d.type}
        if problem is None:
            await self._reporter.succeed(d, result)
            self._metrics.succeeded.labels(label).inc()
            self._metrics.duration.labels(label, "succeeded").observe(took)
            log.debug("attempt succeeded", extra={**fields, "seconds": round(took, 4)})
            return
        await self._reporter.fail(d, problem)
        self._metrics.failed.labels(label, str(problem.retryable).lower()).inc()
        self._metrics.duration.labels(label, "failed").observe(took)
        log.info(
            "attempt failed",
            extra={**fields, "error": problem.error, "retryable": problem.retryable},
        )
