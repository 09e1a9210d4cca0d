"""The worker's reports on the commands topic: start, heartbeat, succeed, fail, cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from streams.worker.dispatch import Dispatch
from streams.worker.outcome import Failure
from taskstream.domain.commands import (
    CANCEL_ATTEMPT,
    FAIL_ATTEMPT,
    HEARTBEAT_ATTEMPT,
    START_ATTEMPT,
    SUCCEED_ATTEMPT,
)
from taskstream.producer import CommandProducer, make_command


class Reporter:
    """Turns what happened to an attempt into commands, keyed by its task id."""

    def __init__(self, producer: CommandProducer, worker_id: str) -> None:
        self._producer = producer
        self.worker_id = worker_id

    async def _send(
        self, type_: str, d: Dispatch, payload: dict[str, Any], command_id: str | None = None
    ) -> asyncio.Future[Any]:
        command = make_command(
            type_,
            d.task_id,
            payload,
            tenant=d.tenant,
            correlation_id=d.correlation_id,
            command_id=command_id,
        )
        return await self._producer.send(command)

    async def start(self, d: Dispatch, command_id: str | None = None) -> asyncio.Future[Any]:
        """Queue `attempt.start` stamped with this moment (the handler starts right after);
        the future resolves when the broker has it."""
        payload = {
            "attempt": d.attempt,
            "dispatch_id": d.dispatch_id,
            "worker": self.worker_id,
            "started_at": datetime.now(UTC).isoformat(),
        }
        return await self._send(START_ATTEMPT, d, payload, command_id)

    async def heartbeat(self, d: Dispatch) -> None:
        """Queue `attempt.heartbeat` (not awaited: the next one follows anyway)."""
        await self._send(HEARTBEAT_ATTEMPT, d, {"attempt": d.attempt, "worker": self.worker_id})

    async def succeed(self, d: Dispatch, result: Any) -> None:
        """Append `attempt.succeed` and wait until the broker has it."""
        payload = {"attempt": d.attempt, "worker": self.worker_id, "result": result}
        await (await self._send(SUCCEED_ATTEMPT, d, payload))

    async def fail(self, d: Dispatch, failure: Failure) -> None:
        """Append `attempt.fail` and wait until the broker has it."""
        payload = {
            "attempt": d.attempt,
            "worker": self.worker_id,
            "error": failure.error,
            "traceback": failure.traceback,
            "retryable": failure.retryable,
        }
        await (await self._send(FAIL_ATTEMPT, d, payload))

    async def cancelled(self, d: Dispatch) -> None:
        """Append `attempt.cancel` (the attempt stopped for a cancel) and wait for the broker."""
        payload = {"attempt": d.attempt, "worker": self.worker_id}
        await (await self._send(CANCEL_ATTEMPT, d, payload))
