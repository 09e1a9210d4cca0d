"""Rebuild a partition's state by folding its events from the start of the log."""

from __future__ import annotations

import logging
import time

from streams.scheduler.partition import PartitionState, Timing
from taskstream.codec import decode
from taskstream.domain.errors import DecodeError
from taskstream.logread import read_partition
from taskstream.settings import Settings

log = logging.getLogger(__name__)


async def rebuild_partition(settings: Settings, partition: int, timing: Timing) -> PartitionState:
    """The state of `partition`: every event in the events topic, folded in order."""
    started = time.monotonic()
    state = PartitionState(partition, timing)
    count = 0
    async for records in read_partition(settings, settings.topic("events"), partition):
        now = time.time()
        for record in records:
            try:
                state.apply(decode(record.value), now)
            except (DecodeError, ValueError) as exc:
                # Undecodable or inapplicable: logged, never a stalled partition.
                log.error(
                    "event skipped in rebuild",
                    extra={"partition": partition, "offset": record.offset, "error": str(exc)},
                )
                continue
            count += 1
    log.info(
        "partition rebuilt",
        extra={
            "partition": partition,
            "events": count,
            "tasks": len(state.tasks),
            "finished": state.tasks.finished_count,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return state
