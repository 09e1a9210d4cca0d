"""The worker's side of the control topic: cancel requests for the attempts it runs.

The scheduler writes one record per cancel request, naming the worker that runs the
attempt (`{"kind": "cancel", "task_id", "attempt", "worker"}`), and one per refused
start (`{"kind": "refused", ..., "start_id"}`): the worker stops that handler and reports
nothing, since the scheduler would refuse any report of it. Each worker follows the
whole topic without a group, from the beginning, and acts on records that name it. A
worker id is new at every process start, so an old record never matches a live worker,
and no consumer has to find the topic's end (the embedded broker's ListOffsets(latest)
is wrong; see docs/architecture.md). Cancel requests are rare, so reading the topic from
its start is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.codec import decode_dict
from taskstream.domain.errors import DecodeError
from taskstream.kafka import background_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)

OnCancel = Callable[[str, int], None]
OnRefused = Callable[[str], None]  # the refused start command's id

_RETRY_SECONDS = 1.0


def cancel_target(raw: bytes | None, worker_id: str) -> tuple[str, int] | None:
    """`(task_id, attempt)` of a cancel record meant for `worker_id`, else None."""
    try:
        data = decode_dict(raw)
    except DecodeError as exc:
        log.warning("undecodable control record ignored", extra={"error": str(exc)})
        return None
    if data.get("kind") != "cancel" or data.get("worker") != worker_id:
        return None
    task_id, attempt = data.get("task_id"), data.get("attempt")
    if not isinstance(task_id, str) or isinstance(attempt, bool) or not isinstance(attempt, int):
        log.warning("malformed cancel record ignored", extra={"record": data})
        return None
    return task_id, attempt


def refused_start(raw: bytes | None, worker_id: str) -> str | None:
    """The start command id of a `refused` record meant for `worker_id`, else None.

    The scheduler writes one when it rejects an `attempt.start` (the task was cancelled
    or re-dispatched before the start arrived): the handler begun with it must stop.
    """
    try:
        data = decode_dict(raw)
    except DecodeError:
        return None  # already logged by `cancel_target`
    if data.get("kind") != "refused" or data.get("worker") != worker_id:
        return None
    start_id = data.get("start_id")
    return start_id if isinstance(start_id, str) else None


class ControlFollower:
    """Reads the control topic and hands this worker's cancels to `on_cancel`, its refused
    starts to `on_refused`."""

    def __init__(
        self,
        settings: Settings,
        worker_id: str,
        on_cancel: OnCancel,
        on_refused: OnRefused | None = None,
    ) -> None:
        self._settings = settings
        self._topic = settings.topic("control")
        self._worker_id = worker_id
        self._on_cancel = on_cancel
        self._on_refused = on_refused
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition of the control topic, from its beginning, and follow it."""
        # Cancels need not be instant: the background long-poll keeps an idle worker
        # from asking the broker a hundred times a second.
        self._consumer = AIOKafkaConsumer(**background_consumer_options(self._settings))
        await self._consumer.start()
        # Every topic has `partitions` partitions (see taskstream/topics.py).
        parts = [TopicPartition(self._topic, p) for p in range(self._settings.partitions)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_beginning(*parts)
        self._task = asyncio.create_task(self._run(), name="control-follower")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except Exception as exc:  # a broker hiccup must not stop the worker's attempts
                log.warning("control topic fetch failed", extra={"error": repr(exc)})
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for records in batches.values():
                for record in records:
                    target = cancel_target(record.value, self._worker_id)
                    if target is not None:
                        self._on_cancel(*target)
                    refused = refused_start(record.value, self._worker_id)
                    if refused is not None and self._on_refused is not None:
                        self._on_refused(refused)
