"""The Faust app: one agent over the commands topic feeds the engine in batches."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from typing import Any

import faust
import faust.transport.drivers.aiokafka as faust_aiokafka
from mode import Service

from streams.scheduler.engine import Scheduler
from streams.scheduler.metrics import BATCH_SECONDS, PARTITIONS
from streams.scheduler.queues import QueueDirectory, ensure_queues_topic
from streams.scheduler.workers import WorkerDirectory
from taskstream.producer import build_producer
from taskstream.settings import Settings

log = logging.getLogger(__name__)


class SchedulerService(Service):
    """Starts the producer and worker directory, and runs the timer loop."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.directory = WorkerDirectory(settings)
        self.queues = QueueDirectory(settings)
        self.engine = Scheduler(settings, None, self.directory, queues=self.queues)
        self.ready = asyncio.Event()

    async def on_start(self) -> None:
        # aiokafka objects need the running loop, so they are made here.
        self.producer = build_producer(self.settings)
        self.engine.producer = self.producer
        await self.producer.start()
        await ensure_queues_topic(self.settings)
        self.directory.start()
        self.queues.start()
        # Submits decided before the task types' announced defaults are read would get
        # the global ones; wait for the workers topic (bounded: it is only defaults).
        try:
            await asyncio.wait_for(self.directory.caught_up.wait(), 30.0)
        except TimeoutError:
            log.warning("workers topic not read to its end in 30 s; starting anyway")
        self.ready.set()
        log.info("scheduler started", extra={"partitions": self.settings.partitions})

    async def on_stop(self) -> None:
        await self.directory.stop()
        await self.queues.stop()
        await self.producer.stop()
        log.info("scheduler stopped")

    @Service.task
    async def _timers(self) -> None:
        await self.ready.wait()
        tick = self.settings.scheduler_tick_seconds
        while not self.should_stop:
            try:
                await self.engine.tick()
            except Exception:
                # The log and the state may now disagree: crash, restart, rebuild.
                log.exception("timer tick failed; stopping to rebuild from the log")
                await self.crash_app()
                return
            due = self.engine.next_due()
            wait = tick if due is None else min(tick, max(0.0, due - time.time()))
            await asyncio.sleep(max(wait, 0.002))

    async def crash_app(self) -> None:
        """Stop the worker so the supervisor restarts it with a fresh rebuild."""
        if self.beacon.root is not None and hasattr(self.beacon.root.data, "crash"):
            await self.beacon.root.data.crash(RuntimeError("scheduler state diverged"))


def _shorten_fetch_wait(ms: int) -> None:
    """Make Faust's consumer long-poll for `ms` instead of its hard-coded 1,500 ms.

    A consumer at the head of the embedded broker waits for new records longer the
    longer its wait (about 400 ms at a 1,000 ms wait, `bench.fetch_wait`), so Faust's
    fixed wait would add about half a second to every command.
    """
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    original = thread_cls._create_worker_consumer
    if getattr(original, "_taskstream_patched", False):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    create._taskstream_patched = True  # type: ignore[attr-defined]
    thread_cls._create_worker_consumer = create  # type: ignore[method-assign]


def build_app(settings: Settings, service: SchedulerService) -> faust.App:
    """The Faust app with its agent and rebalance hooks."""
    _shorten_fetch_wait(settings.fetch_max_wait_ms)
    app = faust.App(
        f"{settings.topic_prefix}-scheduler",
        broker=f"kafka://{settings.kafka_bootstrap.split(',')[0]}",
        value_serializer="raw",
        key_serializer="raw",
        broker_rebalance_timeout=settings.group_rebalance_timeout_ms / 1000,
        broker_session_timeout=settings.group_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.group_heartbeat_ms / 1000,
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        topic_allow_declare=False,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="taskstream-scheduler-"),
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=settings.producer_linger_ms,
    )
    commands = app.topic(settings.topic("commands"), partitions=settings.partitions)
    engine = service.engine
    batch = settings.scheduler_batch_size

    @app.agent(commands, name="decide")
    async def decide_commands(stream: Any) -> None:
        async for events in stream.take_events(batch, within=0.005):
            await service.ready.wait()
            started = time.perf_counter()
            records = [(ev.message.partition, ev.message.offset, ev.value) for ev in events]
            await engine.handle(records)
            BATCH_SECONDS.observe(time.perf_counter() - started)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        mine = {tp.partition for tp in assigned if tp.topic == commands.get_topic_name()}
        engine.revoke(set(engine.partitions) - mine)
        engine.assign(mine)
        PARTITIONS.set(len(mine))
        log.info("partitions assigned", extra={"partitions": sorted(mine)})

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == commands.get_topic_name()}
        engine.revoke(gone)
        log.info("partitions revoked", extra={"partitions": sorted(gone)})

    return app
