"""The scheduler's delivery wait names the topic and partition of every failed record."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.errors import NotLeaderForPartitionError

from streams.scheduler.records import Outgoing, delivered


def _futures(*outcomes: BaseException | None) -> list[asyncio.Future[Any]]:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Any]] = []
    for outcome in outcomes:
        fut: asyncio.Future[Any] = loop.create_future()
        if outcome is None:
            fut.set_result("metadata")
        else:
            fut.set_exception(outcome)
        futures.append(fut)
    return futures


OUT: list[Outgoing] = [
    ("ts.events", b"t1", b"{}", 2),
    ("ts.queues", b"q", b"{}", 0),
    ("ts.events", b"t2", b"{}", 2),
]


async def test_all_delivered_returns_quietly(caplog: pytest.LogCaptureFixture) -> None:
    await delivered(OUT, _futures(None, None, None))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_failed_record_is_logged_with_its_topic_and_partition_then_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    boom = NotLeaderForPartitionError()
    with pytest.raises(NotLeaderForPartitionError):
        await delivered(OUT, _futures(boom, None, NotLeaderForPartitionError()))
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == "scheduler records not delivered"
    assert record.records == 3  # type: ignore[attr-defined]
    assert record.failed == [  # type: ignore[attr-defined]
        {
            "topic": "ts.events",
            "partition": 2,
            "error": "NotLeaderForPartitionError()",
            "records": 2,
        }
    ]
