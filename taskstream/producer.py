"""The command producer: how the API, workers and clients append commands to the log."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from taskstream.codec import encode, encode_dict
from taskstream.domain.envelope import Envelope
from taskstream.settings import Settings
from taskstream.tracking_producer import TrackingProducer

# Namespace of ids derived from an idempotency key: a retried submit names the same task.
_IDEMPOTENCY_NS = uuid.UUID("0d5c4a8e-3f7e-4c1b-9b61-7a2f2f9e6c42")


def new_id() -> str:
    """A fresh random id (task ids, command ids): uuid4, hex with dashes."""
    return str(uuid.uuid4())


def new_ids(count: int) -> list[str]:
    """`count` fresh uuid4 ids from one draw of randomness (one syscall, not `count`)."""
    raw = os.urandom(16 * count)
    return [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, len(raw), 16)]


def submit_ids(
    tenant: str, idempotency_key: str | None, *, fresh: Callable[[], str] = new_id
) -> tuple[str, str]:
    """(task id, command id) of a submit: `fresh`, or derived from an idempotency key so a
    retry (over REST or straight onto the log) repeats them."""
    if not idempotency_key:
        return fresh(), fresh()
    task_id = uuid.uuid5(_IDEMPOTENCY_NS, f"task\x00{tenant}\x00{idempotency_key}")
    command_id = uuid.uuid5(_IDEMPOTENCY_NS, f"submit\x00{tenant}\x00{idempotency_key}")
    return str(task_id), str(command_id)


def make_command(
    type_: str,
    task_id: str,
    payload: dict[str, Any],
    *,
    tenant: str = "default",
    command_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """A command envelope stamped with the current time."""
    return Envelope(
        event_id=command_id or new_id(),
        type=type_,
        task_id=task_id,
        occurred_at=datetime.now(UTC),
        correlation_id=correlation_id,
        tenant=tenant,
        payload=payload,
    )


def build_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """An aiokafka producer configured from settings (idempotence is a setting)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "linger_ms": settings.producer_linger_ms,
        "enable_idempotence": settings.producer_idempotence,
        "acks": "all",
        "max_request_size": max(settings.max_body_bytes * 2, 4 * 1024 * 1024),
    }
    options.update(overrides)
    return TrackingProducer(**options)


class CommandProducer:
    """Appends commands keyed by task id, so a task's records share one partition."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic("commands")
        self._producer = build_producer(settings)

    async def start(self) -> None:
        """Connect to the broker."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def send(self, command: Envelope) -> asyncio.Future[Any]:
        """Queue one command; the returned future resolves once the broker has it."""
        fut: asyncio.Future[Any] = await self._producer.send(
            self._topic, encode(command), key=command.task_id.encode()
        )
        return fut

    async def append(self, command: Envelope) -> None:
        """Append one command and wait until the broker has it."""
        await (await self.send(command))

    async def append_many(self, commands: list[Envelope]) -> None:
        """Append several commands and wait until the broker has all of them."""
        futures = [await self.send(cmd) for cmd in commands]
        await asyncio.gather(*futures)

    async def send_raw(self, topic: str, key: bytes, record: dict[str, Any]) -> None:
        """Queue a plain JSON record on another topic (logs, heartbeats); fire and forget."""
        await self._producer.send(topic, encode_dict(record), key=key)

    async def flush(self) -> None:
        """Wait until everything queued is written."""
        await self._producer.flush()
