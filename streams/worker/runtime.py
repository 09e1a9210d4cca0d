"""The worker: its consumers, slots, reports and shutdown, wired together.

Per record: decode (undecodable -> dead-letter topic), skip a dispatch the scheduler has
surely re-dispatched, send `attempt.start`, run the handler, report the outcome and wait
for the broker to have it, free the slot. The offset is committed once the broker has the
start (from then on the scheduler's lease covers a worker that dies), in order per
partition. Cancel records naming this worker on the control topic stop the attempt
they name (`control.py`).

SIGTERM/SIGINT: stop fetching, say `down`, commit and leave the groups, let running attempts
finish for `worker_shutdown_grace_seconds`, then cancel the rest and report them failed
(retryable, "worker shutting down"), flush, exit 0. A second signal skips the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition

from streams.worker.config import WorkerSettings
from streams.worker.consumer import QueueConsumer
from streams.worker.control import ControlFollower
from streams.worker.dispatch import (
    Dispatch,
    deadletter_record,
    dispatch_age,
    hold_seconds,
    parse_dispatch,
)
from streams.worker.execution import AttemptRunner, LogLimits, Running
from streams.worker.heartbeat import AttemptBeats, WorkerHeartbeat, WorkerIdentity
from streams.worker.logsink import LogShipper, install_task_log_handler, remove_task_log_handler
from streams.worker.metrics import WorkerMetrics
from streams.worker.reports import Reporter
from streams.worker.slots import Slots
from taskstream.domain.errors import DecodeError
from taskstream.producer import CommandProducer, new_id
from taskstream.registry import Registry
from taskstream.settings import Settings
from taskstream.topics import ensure_topics

log = logging.getLogger(__name__)

SHUTDOWN_REASON = "worker shutting down"
# After the grace period: how long cancelled attempts get to report before the worker exits.
_REPORT_GRACE = 15.0


def new_worker_id() -> str:
    """`host:pid:random`, unique per process start, short enough for the report models."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker process: consumes its queues' dispatch topics and runs the attempts."""

    def __init__(
        self,
        settings: Settings,
        worker_settings: WorkerSettings,
        registry: Registry,
        queues: list[str],
        concurrency: int,
        *,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._wsettings = worker_settings
        self._registry = registry
        self._queues = queues
        self.metrics = metrics or WorkerMetrics()
        self.identity = WorkerIdentity(
            worker_id=new_worker_id(),
            queues=tuple(queues),
            concurrency=concurrency,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC),
            types={spec.name: spec.defaults() for spec in registry if spec.defaults()},
        )
        self.exit_code = 0
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="taskstream-task")
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[Running] = set()
        # Attempts (task id, number) taken by this process, oldest first (see `_accept`).
        self._taken: OrderedDict[tuple[str, int], None] = OrderedDict()

    async def run(self) -> int:
        """Run until a signal (or a fatal error); the process exit code."""
        s = self._settings
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._slots = Slots(self.identity.concurrency)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        topics = [s.dispatch_topic(q) for q in self._queues]
        topics += [s.topic(n) for n in ("commands", "logs", "workers", "deadletter", "control")]
        await ensure_topics(s, topics)
        self._producer = CommandProducer(s)
        await self._producer.start()
        self._reporter = Reporter(self._producer, self.identity.worker_id)
        self._shipper = LogShipper(self._producer, s.topic("logs"))
        self._beats = AttemptBeats(self._reporter.heartbeat, s.lease_seconds / 3)
        self._heartbeat = WorkerHeartbeat(
            self._producer,
            s.topic("workers"),
            self.identity,
            s.worker_heartbeat_seconds,
            lambda: self._slots.used,
            self._attempts,
        )
        self.runner = AttemptRunner(
            registry=self._registry,
            queues=self._queues,
            reporter=self._reporter,
            beats=self._beats,
            shipper=self._shipper,
            metrics=self.metrics,
            executor=self._executor,
            log_limits=LogLimits(
                self._wsettings.worker_log_lines_max, self._wsettings.worker_log_line_max_chars
            ),
            max_result_bytes=s.max_payload_bytes,
            cancel_grace=s.worker_cancel_grace_seconds,
        )
        handler = install_task_log_handler()
        self._shipper.start()
        self._beats.start()
        self._heartbeat.start()
        self._consumers = [QueueConsumer(s, q, self._slots, self._take) for q in self._queues]
        # Following before the first attempt starts, so no cancel for one can be missed.
        self._control = ControlFollower(s, self.identity.worker_id, self.cancel, self.refused)
        try:
            await self._control.start()
            for consumer in self._consumers:
                await consumer.start()
            log.info(
                "worker started",
                extra={
                    "worker": self.identity.worker_id,
                    "queues": self._queues,
                    "concurrency": self.identity.concurrency,
                    "task_types": self._registry.names(),
                },
            )
            await self._stop.wait()
        finally:
            await self._shutdown()
            remove_task_log_handler(handler)
        return self.exit_code

    def _attempts(self) -> list[dict[str, object]]:
        """The attempts running now, as the heartbeat lists them."""
        return [
            {
                "task_id": r.dispatch.task_id,
                "tenant": r.dispatch.tenant,
                "attempt": r.dispatch.attempt,
                "started_at": r.started_at.isoformat(),
            }
            for r in self._running
        ]

    def request_stop(self) -> None:
        """First call: drain and stop. Second call: stop without waiting for attempts."""
        if self._stop.is_set():
            log.warning("second stop signal: cancelling running attempts now")
            self._force.set()
        self._stop.set()

    def cancel(self, task_id: str, attempt: int) -> None:
        """Stop the attempt if this worker runs it (a cancel for another is ignored)."""
        for running in self._running:
            d = running.dispatch
            if d.task_id == task_id and d.attempt == attempt:
                log.info("cancelling attempt", extra={"task_id": task_id, "attempt": attempt})
                running.cancel()

    def refused(self, start_id: str) -> None:
        """The scheduler refused the start `start_id`: stop that run, report nothing."""
        for running in self._running:
            if running.start_id == start_id:
                d = running.dispatch
                log.info(
                    "stopping a run whose start was refused",
                    extra={"task_id": d.task_id, "attempt": d.attempt},
                )
                running.refuse()

    def _fatal(self, exc: BaseException) -> None:
        log.error("worker cannot go on, stopping", extra={"error": repr(exc)}, exc_info=exc)
        self.exit_code = 1
        self.request_stop()

    def _take(self, consumer: QueueConsumer, tp: TopicPartition, record: ConsumerRecord) -> None:
        task = asyncio.create_task(self._handle(consumer, tp, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, qc: QueueConsumer, tp: TopicPartition, record: ConsumerRecord) -> None:
        self.metrics.busy.set(self._slots.used)
        try:
            dispatch = await self._accept(tp, record)
            if dispatch is None:
                qc.settle(tp, record.offset)
                return
            # The handler starts while the start report is on its way (the producer keeps
            # one task's reports in order); the offset commits once the broker has it.
            hold = hold_seconds(dispatch, datetime.now(UTC))
            if hold > 0:
                await self._hold(hold)  # dispatched ahead of its run_at
            running = Running(dispatch, start_id=new_id())
            acked = await self._reporter.start(dispatch, running.start_id)
            acked.add_done_callback(lambda f: self._start_written(f, qc, tp, record.offset))
            known = dispatch.type in self._registry
            self.metrics.started.labels(dispatch.type if known else "unregistered").inc()
            self._running.add(running)
            try:
                await self.runner.run(running)
            finally:
                self._running.discard(running)
                if running.refused:
                    # Whatever refused it, a later dispatch of this attempt may run here.
                    self._taken.pop((dispatch.task_id, dispatch.attempt), None)
        except Exception as exc:  # the broker refused a report: restart, get redelivered
            self._fatal(exc)
        finally:
            self._slots.release()
            self.metrics.busy.set(self._slots.used)

    async def _hold(self, seconds: float) -> None:
        """Wait `seconds` for a start time without occupying a slot, then take one back
        (waiting for it if the worker is full then: concurrency is never exceeded)."""
        self._slots.release()
        taken = False
        try:
            await asyncio.sleep(seconds)
            while not (taken := self._slots.try_take()):
                await self._slots.wait_free(1.0)
        finally:
            if not taken:
                self._slots.force_take()  # cancelled: the caller's `finally` gives it back

    def _start_written(
        self, fut: asyncio.Future[object], qc: QueueConsumer, tp: TopicPartition, offset: int
    ) -> None:
        error = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if error is not None:
            self._fatal(error)  # not settled: the record is redelivered after the restart
        else:
            qc.settle(tp, offset)

    async def _accept(self, tp: TopicPartition, record: ConsumerRecord) -> Dispatch | None:
        """The dispatch to run, or None when the record is dead-lettered or stale."""
        try:
            dispatch = parse_dispatch(record.value)
        except DecodeError as exc:
            log.error(
                "undecodable dispatch record sent to the dead-letter topic",
                extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset},
            )
            dead = deadletter_record(tp.topic, tp.partition, record.offset, str(exc), record.value)
            topic = self._settings.topic("deadletter")
            await self._producer.send_raw(topic, record.key or b"", dead)
            await self._producer.flush()
            self.metrics.deadlettered.inc()
            return None
        if (dispatch.task_id, dispatch.attempt) in self._taken:
            # Delivered again (a rebalance came before its offset was committed), or
            # dispatched again because its start was late: this process took this attempt
            # already (and the scheduler accepts that start), so running it again would
            # only duplicate it.
            log.info(
                "skipping a dispatch of an attempt this worker already took",
                extra={"task_id": dispatch.task_id, "attempt": dispatch.attempt},
            )
            self.metrics.skipped_redelivered.inc()
            return None
        age = dispatch_age(dispatch, datetime.now(UTC))
        limit = (
            self._settings.dispatch_timeout_seconds
            + self._wsettings.worker_stale_dispatch_margin_seconds
        )
        if self._wsettings.worker_skip_stale_dispatches and age > limit:
            log.warning(
                "skipping a stale dispatch: the scheduler has dispatched this task again "
                "(check the clocks if this happens to fresh tasks; "
                "TASKSTREAM_WORKER_SKIP_STALE_DISPATCHES=false turns the check off)",
                extra={"task_id": dispatch.task_id, "attempt": dispatch.attempt, "age": age},
            )
            self.metrics.skipped_stale.inc()
            return None
        self._remember(dispatch)
        return dispatch

    def _remember(self, dispatch: Dispatch) -> None:
        limit = self._wsettings.worker_remembered_dispatches
        if limit <= 0:
            return
        self._taken[(dispatch.task_id, dispatch.attempt)] = None
        while len(self._taken) > limit:
            self._taken.popitem(last=False)

    async def _shutdown(self) -> None:
        log.info("worker stopping", extra={"running": len(self._running)})
        for consumer in self._consumers:
            await consumer.stop_fetching()
        await self._heartbeat.down()
        for consumer in self._consumers:
            try:
                await consumer.close()
            except Exception as exc:
                log.warning("consumer did not close cleanly", extra={"error": repr(exc)})
        await self._drain()
        await self._control.stop()
        await self._beats.stop()
        await self._shipper.close()
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped", extra={"worker": self.identity.worker_id})

    async def _drain(self) -> None:
        pending = set(self._tasks)
        if pending:
            grace = self._settings.worker_shutdown_grace_seconds
            log.info(
                "waiting for running attempts", extra={"running": len(pending), "grace": grace}
            )
            finished = asyncio.ensure_future(asyncio.wait(pending))
            force = asyncio.ensure_future(self._force.wait())
            await asyncio.wait({finished, force}, timeout=grace, return_when="FIRST_COMPLETED")
            finished.cancel()
            force.cancel()
        for running in list(self._running):
            running.abort(SHUTDOWN_REASON)
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            log.warning("cancelled attempts still reporting", extra={"count": len(pending)})
            await asyncio.wait(pending, timeout=_REPORT_GRACE)
