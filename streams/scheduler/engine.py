"""The scheduler engine: decide commands and timers per partition, append, dispatch.

Faust-independent so it can be driven by the agent (streams/scheduler/app.py) and by
tests. Appends are serialised by one lock so a partition's events reach the log in
version order; delivery is awaited outside the lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.scheduler.gate import DispatchGate
from streams.scheduler.metrics import COMMANDS, DISPATCHED, EVENTS, TIMERS_FIRED
from streams.scheduler.partition import PartitionState, Timing
from streams.scheduler.queues import QueueDirectory
from streams.scheduler.rebuild import rebuild_partition
from streams.scheduler.records import Outgoing, control_record, delivered, dispatch_record
from streams.scheduler.schedules import fire_records
from streams.scheduler.workers import WorkerDirectory
from taskstream.codec import decode, encode, encode_dict
from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain.capacity import process_budget
from taskstream.domain.defaults import Defaults, GlobalDefaults
from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import DecodeError
from taskstream.domain.machine import RetryPolicy, decide, reject
from taskstream.domain.queue_model import QUEUE_COMMANDS, QueueState, is_queue
from taskstream.domain.schedule_model import SCHEDULE_COMMANDS, is_schedule
from taskstream.domain.state import Status, TaskState
from taskstream.producer import new_id
from taskstream.settings import Settings
from taskstream.topics import ensure_topics

log = logging.getLogger(__name__)


def refusal_record(topic: str, cmd: Envelope) -> Outgoing | None:
    """The control record that tells a worker its `attempt.start` was refused, so it stops
    the handler it began while the start was on its way (cancelled before the start, say).

    It names the start command too: a worker may hold two copies of one dispatch.
    """
    worker, attempt = cmd.payload.get("worker"), cmd.payload.get("attempt")
    if not isinstance(worker, str) or not isinstance(attempt, int):
        return None  # not a worker's start: nobody to tell
    record = {
        "kind": "refused",
        "task_id": cmd.task_id,
        "attempt": attempt,
        "worker": worker,
        "start_id": cmd.event_id,
    }
    return (topic, cmd.task_id.encode(), encode_dict(record), None)


class Scheduler:
    """Owns the state of the partitions assigned to this process."""

    def __init__(
        self,
        settings: Settings,
        producer: AIOKafkaProducer | None,
        directory: WorkerDirectory,
        *,
        queues: QueueDirectory | None = None,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.directory = directory
        self.queue_directory = queues or QueueDirectory(settings)
        self._queues_topic = settings.topic("queues")
        self.clock = clock
        self.draw = draw
        self.policy = RetryPolicy(
            settings.backoff_base_seconds, settings.backoff_factor, settings.backoff_max_seconds
        )
        self.global_defaults = GlobalDefaults(
            priority=settings.default_priority,
            max_attempts=settings.default_max_attempts,
            timeout_seconds=settings.default_timeout_seconds,
        )
        self.timing = Timing(
            settings.dispatch_timeout_seconds,
            settings.lease_seconds,
            timer_lead=settings.timer_lead_ms / 1000,
        )
        self.partitions: dict[int, PartitionState] = {}
        self._rebuilds: dict[int, asyncio.Task[PartitionState]] = {}
        self._queues: set[str] = set()
        self._lock = asyncio.Lock()
        self._events_topic = settings.topic("events")
        self._control_topic = settings.topic("control")
        # Cancel requests of rebuilt partitions, told to the workers again on the next tick:
        # the first telling may not have reached the log before a crash.
        self._retell: list[Outgoing] = []
        self._commands_topic = settings.topic("commands")

    # Assignment -------------------------------------------------------------------
    def assign(self, partitions: set[int]) -> None:
        """Start rebuilding newly assigned partitions from the events topic."""
        for p in partitions:
            if p not in self.partitions and p not in self._rebuilds:
                self._rebuilds[p] = asyncio.create_task(
                    rebuild_partition(self.settings, p, self.timing), name=f"rebuild-{p}"
                )

    def revoke(self, partitions: set[int]) -> None:
        """Forget partitions this process no longer owns."""
        for p in partitions:
            self.partitions.pop(p, None)
            task = self._rebuilds.pop(p, None)
            if task:
                task.cancel()

    async def partition(self, p: int) -> PartitionState:
        """The state of partition `p`, waiting for its rebuild if one is running."""
        state = self.partitions.get(p)
        if state is not None:
            return state
        if p not in self._rebuilds:
            self.assign({p})
        state = await self._rebuilds[p]
        self._rebuilds.pop(p, None)
        self.partitions[p] = state
        # The settings of this partition's queues, appended again: a crash may have
        # come between a queue event and its broadcast.
        self._retell.extend(self._broadcast(q) for q in state.queues.states.values())
        for task in state.tasks.unfinished():
            self._queues.add(task.queue)
            running = task.current_attempt
            if task.cancel_requested and running is not None:
                self._retell.append(control_record(self._control_topic, task.id, running))
        return state

    def _broadcast(self, queue: QueueState) -> Outgoing:
        """The queues-topic record of `queue`'s settings, applied here at once."""
        record = queue.settings.as_record()
        self.queue_directory.observe(record)
        return (self._queues_topic, queue.id.encode(), encode_dict(record), 0)

    # Commands ---------------------------------------------------------------------
    async def handle(self, records: list[tuple[int, int, bytes | None]]) -> None:
        """Decide a batch of command records `(partition, offset, value)`; return once
        every resulting event and dispatch record is acknowledged by the broker."""
        states = {p: await self.partition(p) for p in {r[0] for r in records}}
        async with self._lock:
            now = self.clock()
            moment = datetime.fromtimestamp(now, UTC)
            out: list[Outgoing] = []
            for p, offset, raw in records:
                self._command(states[p], offset, raw, now, moment, out)
            # Every owned partition: a finished attempt frees a slot a limited queue's
            # most urgent task may be waiting for on another partition.
            await self._dispatch(list(self.partitions.values()), now, moment, out)
            futures = await self._enqueue(out)
        await delivered(out, futures)

    def _command(
        self,
        st: PartitionState,
        offset: int,
        raw: bytes | None,
        now: float,
        moment: datetime,
        out: list[Outgoing],
    ) -> None:
        try:
            cmd = decode(raw)
        except DecodeError as exc:
            log.error("undecodable command", extra={"partition": st.partition, "offset": offset})
            record = {
                "source_topic": self.settings.topic("commands"),
                "partition": st.partition,
                "offset": offset,
                "error": str(exc),
                "value": (raw or b"").decode("utf-8", "replace"),
            }
            out.append((self.settings.topic("deadletter"), b"", encode_dict(record), None))
            COMMANDS.labels("undecodable").inc()
            return
        COMMANDS.labels(cmd.type).inc()
        if cmd.type == c.HEARTBEAT_ATTEMPT:
            attempt = cmd.payload.get("attempt")
            if isinstance(attempt, int):
                st.extend_lease(cmd.task_id, attempt, now)
            return
        if is_schedule(cmd.task_id) or cmd.type in SCHEDULE_COMMANDS:
            self._append(st, st.schedules.command(cmd, moment), now, out)
            return
        if is_queue(cmd.task_id) or cmd.type in QUEUE_COMMANDS:
            events = st.queues.command(cmd, moment)
            self._append(st, events, now, out)
            if any(ev.type != e.COMMAND_REJECTED for ev in events):
                out.append(self._broadcast(st.queues.states[cmd.task_id]))
            return
        state = st.tasks.get(cmd.task_id)
        if cmd.event_id in st.rejected_early:
            return  # a replay of a command refused before its task existed
        if cmd.type not in c.PUBLIC_COMMANDS:
            events = reject(state, cmd, f"command type {cmd.type!r} is not accepted", moment)
        else:
            defaults = Defaults(self.global_defaults, self.directory.type_defaults)
            events = decide(
                state, cmd, moment, policy=self.policy, draw=self.draw(), defaults=defaults
            )
        self._append(st, events, now, out)
        if cmd.type == c.START_ATTEMPT and [ev.type for ev in events] == [e.COMMAND_REJECTED]:
            refusal = refusal_record(self._control_topic, cmd)
            if refusal is not None:
                out.append(refusal)

    def _append(
        self, st: PartitionState, events: list[Envelope], now: float, out: list[Outgoing]
    ) -> None:
        for event in events:
            new = st.apply(event, now)
            out.append((self._events_topic, event.task_id.encode(), encode(event), st.partition))
            EVENTS.labels(event.type).inc()
            running = new.current_attempt if new else None
            if event.type == e.TASK_CANCEL_REQUESTED and running is not None:
                out.append(control_record(self._control_topic, event.task_id, running))
            if event.type == e.TASK_DISPATCHED and new is not None:
                # Every dispatch decision hands the task to its queue, whether it came
                # from capacity or from the dispatch-timeout timer (a re-dispatch).
                out.append(dispatch_record(self.settings, new, event))
                DISPATCHED.labels(new.queue).inc()

    # Timers and dispatch ----------------------------------------------------------
    async def tick(self) -> None:
        """Fire due timers and dispatch what capacity allows, on every owned partition."""
        # A rebuilt partition starts its timers and dispatch now, not at its next command:
        # after a restart whose commands were all committed, that command may never come.
        for p in [p for p, rebuild in self._rebuilds.items() if rebuild.done()]:
            await self.partition(p)
        async with self._lock:
            now = self.clock()
            moment = datetime.fromtimestamp(now, UTC)
            out, self._retell = self._retell, []
            states = list(self.partitions.values())
            for st in states:
                out += fire_records(
                    st.schedules,
                    st.partition,
                    now,
                    moment,
                    self.draw,
                    events_topic=self._events_topic,
                    commands_topic=self._commands_topic,
                )
                for timer in st.due_timers(now):
                    state = st.tasks.live(timer.task_id)
                    if state is None:
                        continue  # unknown, or finished: no timer applies to it
                    cmd = Envelope(
                        event_id=f"timer:{timer.task_id}:{timer.kind}:{timer.attempt}:{state.version}",
                        type=c.FIRE_TIMER,
                        task_id=timer.task_id,
                        occurred_at=moment,
                        tenant=state.tenant,
                        payload={
                            "kind": timer.kind,
                            "attempt": timer.attempt,
                            "lead_ms": self.settings.timer_lead_ms,
                        },
                    )
                    events = decide(state, cmd, moment, policy=self.policy, draw=self.draw())
                    if events:
                        TIMERS_FIRED.labels(timer.kind).inc()
                    elif timer.kind == "run_at" and state.status is Status.SCHEDULED:
                        # Popped a hair before `decide` agrees (float seconds here,
                        # microseconds there): nothing else would ever fire it.
                        st.rearm_run_at(state, now)
                    self._append(st, events, now, out)
            await self._dispatch(states, now, moment, out)
            futures = await self._enqueue(out)
        await delivered(out, futures)

    async def _dispatch(
        self, states: list[PartitionState], now: float, moment: datetime, out: list[Outgoing]
    ) -> None:
        if not self.queue_directory.caught_up:
            return  # a pause this process has not read yet must not be missed
        epoch = int(now // self.settings.queue_limit_rotate_seconds)
        for queue in sorted({q for st in states for q in st.queues_with_ready()}):
            capacity = self.directory.capacity(queue) or self.settings.default_queue_capacity
            if capacity <= 0:
                continue  # no live worker: keep the tasks here, in priority order
            # One budget for every partition this process owns: tasks hashed unevenly
            # onto partitions must not wait for their own partition's slots while the
            # others' stand idle (the processes' budgets still add up to the capacity).
            room = process_budget(
                capacity,
                self.settings.partitions,
                self.settings.capacity_overcommit,
                owned=len(states),
            ) - sum(st.inflight_count(queue) for st in states)
            gate = DispatchGate(
                queue,
                self.queue_directory,
                self.partitions,
                capacity=capacity,
                partitions=self.settings.partitions,
                overcommit=self.settings.capacity_overcommit,
                epoch=epoch,
            )
            while room > 0:
                # The most urgent task over the owned partitions, so a limit's few slots
                # go by priority, not to whichever partition comes first.
                keys = [
                    (key, i)
                    for i, st in enumerate(states)
                    if (key := st.peek_ready(queue, gate.allowed)) is not None
                ]
                if not keys:
                    break
                st = states[min(keys)[1]]
                task = st.pop_ready(queue, gate.allowed)
                assert task is not None  # peeked just now
                gate.took(task.tenant)
                room -= 1
                await self._dispatch_one(st, task, now, moment, out)

    async def _dispatch_one(
        self, st: PartitionState, task: TaskState, now: float, moment: datetime, out: list[Outgoing]
    ) -> None:
        queue = task.queue
        if queue not in self._queues:
            await ensure_topics(self.settings, [self.settings.dispatch_topic(queue)])
            self._queues.add(queue)
        cmd = Envelope(
            event_id=f"dispatch:{task.id}:{task.version}",
            type=c.DISPATCH_TASK,
            task_id=task.id,
            occurred_at=moment,
            tenant=task.tenant,
            payload={"dispatch_id": new_id()},
        )
        # `_append` sends the dispatch record of every `task.dispatched`.
        self._append(st, decide(task, cmd, moment, policy=self.policy), now, out)

    async def _enqueue(self, out: list[Outgoing]) -> list[asyncio.Future[Any]]:
        if self.producer is None:
            raise RuntimeError("scheduler producer not started")
        return [
            await self.producer.send(topic, value, key=key, partition=partition)
            for topic, key, value, partition in out
        ]

    def next_due(self) -> float | None:
        """The earliest timer over all owned partitions."""
        dues = [d for st in self.partitions.values() if (d := st.next_due()) is not None]
        return min(dues) if dues else None
