"""The Kafka transport of `taskstream.Client`: commands published onto the commands topic.

Each submit is validated with `SubmitTask`, the model the scheduler decides with, so what
this refuses the scheduler would have refused (as a `command.rejected` event).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from taskstream.domain.commands import CANCEL_TASK, SUBMIT_TASK, CancelTask, SubmitTask
from taskstream.producer import CommandProducer, make_command, submit_ids
from taskstream.settings import Settings


class KafkaTransport:
    """Commands published straight onto the commands topic."""

    def __init__(self, settings: Settings, tenant: str) -> None:
        self.settings = settings
        self.tenant = tenant
        self.producer: CommandProducer | None = None

    async def start(self) -> None:
        producer = CommandProducer(self.settings)
        await producer.start()
        self.producer = producer

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    def _producer(self) -> CommandProducer:
        if self.producer is None:
            raise RuntimeError("use the client as `async with Client.kafka(...) as client`")
        return self.producer

    async def submit(self, bodies: list[dict[str, Any]]) -> list[str]:
        now = datetime.now(UTC)
        commands = []
        for body in bodies:
            fields = {k: v for k, v in body.items() if v is not None}
            key = fields.pop("idempotency_key", None)
            delay = fields.pop("delay_seconds", None)
            if delay is not None:
                if "run_at" in fields:
                    raise ValueError("give run_at or delay, not both")
                fields["run_at"] = now + timedelta(seconds=delay)
            # The scheduler validates with the same model: refuse here what it would refuse.
            payload = SubmitTask.model_validate(fields).model_dump(mode="json")
            # The API's limit; a broker has its own, the embedded one none.
            size, limit = len(orjson.dumps(payload["payload"])), self.settings.max_payload_bytes
            if size > limit:
                raise ValueError(f"payload is {size} bytes as JSON; must be at most {limit}")
            task_id, command_id = submit_ids(self.tenant, key)
            commands.append(
                make_command(
                    SUBMIT_TASK, task_id, payload, tenant=self.tenant, command_id=command_id
                )
            )
        await self._producer().append_many(commands)
        return [c.task_id for c in commands]

    async def cancel(self, task_id: str, reason: str) -> None:
        payload = CancelTask(reason=reason).model_dump(mode="json")
        await self._producer().append(
            make_command(CANCEL_TASK, task_id, payload, tenant=self.tenant)
        )
