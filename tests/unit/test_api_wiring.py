"""The Kafka command sink's failure classification, and the wiring helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from api.ports import CommandLogUnavailable
from api.wiring import KafkaCommandSink, redact, retry
from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import InfrastructureError
from taskstream.producer import make_command


class FakeProducer:
    """`send` outcomes on demand: acknowledged, refused, or never acknowledged."""

    def __init__(self) -> None:
        self.mode = "ack"
        self.reachable = True
        self.sent: list[Envelope] = []

    async def send(self, command: Envelope) -> asyncio.Future[Any]:
        if self.mode == "refuse":
            raise KafkaTimeoutError()
        self.sent.append(command)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.mode == "ack":
            fut.set_result(None)
        elif self.mode == "fail":
            fut.set_exception(KafkaConnectionError())
        return fut  # "hang": never resolves

    async def ping(self) -> None:
        if not self.reachable:
            raise InfrastructureError("no broker")


def cmd() -> Envelope:
    return make_command("task.submit", "t1", {"type": "x"})


async def test_acknowledged_append_returns() -> None:
    producer = FakeProducer()
    await KafkaCommandSink(producer, timeout=1).append(cmd())
    assert len(producer.sent) == 1


async def test_refused_before_queueing_is_certainly_unwritten() -> None:
    producer = FakeProducer()
    producer.mode = "refuse"
    with pytest.raises(CommandLogUnavailable) as caught:
        await KafkaCommandSink(producer, timeout=1).append(cmd())
    assert caught.value.written is False


@pytest.mark.parametrize("mode", ["hang", "fail"])
async def test_unacknowledged_is_unknown_then_fails_fast_until_the_broker_answers(
    mode: str,
) -> None:
    producer = FakeProducer()
    sink = KafkaCommandSink(producer, timeout=0.05)
    producer.mode = mode
    with pytest.raises(CommandLogUnavailable) as first:
        await sink.append(cmd())
    assert first.value.written is None

    producer.reachable = False
    with pytest.raises(CommandLogUnavailable) as second:
        await sink.append(cmd())
    assert second.value.written is False
    assert len(producer.sent) == 1  # the fast failure queued nothing

    producer.reachable, producer.mode = True, "ack"
    await sink.append(cmd())
    assert len(producer.sent) == 2


async def test_retry_gives_up_after_the_deadline() -> None:
    calls = 0

    async def attempt() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError()
        return 7

    assert await retry("thing", attempt, deadline=30) == 7
    calls = -100
    with pytest.raises(ConnectionRefusedError):
        await retry("thing", attempt, deadline=0)


def test_redact_drops_the_password() -> None:
    assert redact("postgresql://u:secret@db:5432/ts") == "postgresql://u@db:5432/ts"
    assert redact("postgresql://db/ts") == "postgresql://db/ts"


async def test_append_many_awaits_every_acknowledgement() -> None:
    producer = FakeProducer()
    await KafkaCommandSink(producer, timeout=1).append_many([cmd(), cmd(), cmd()])
    assert len(producer.sent) == 3


async def test_append_many_refused_midway_may_have_written_the_first() -> None:
    class RefuseSecond(FakeProducer):
        async def send(self, command: Envelope) -> asyncio.Future[Any]:
            self.mode = "refuse" if self.sent else "ack"
            return await super().send(command)

    producer = RefuseSecond()
    with pytest.raises(CommandLogUnavailable) as caught:
        await KafkaCommandSink(producer, timeout=1).append_many([cmd(), cmd()])
    assert caught.value.written is None
    assert len(producer.sent) == 1
