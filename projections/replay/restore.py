"""Restore the events and logs topics from the Postgres archive into an empty broker.

The embedded broker keeps its log in memory; the archive (`task_events`, `task_logs`)
keeps every record the projectors applied, with its partition and offset. Each partition
is written back in offset order up to its projector checkpoint. An offset the archive
lacks (a record that never decoded and went to the dead-letter topic, a duplicate the
projector skipped) is filled with a record without key or value, so every restored
record gets its original offset and the projectors' checkpoints stay exactly right: they
continue after the last restored record, and nothing is applied twice or skipped. The
scheduler then rebuilds its partitions from the restored events as after any restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from projections.config import ProjectorSettings
from projections.logs import PROJECTION as LOGS_PROJECTION
from projections.replay.logio import held
from projections.replay.source import topic_partitions
from taskstream.codec import encode
from taskstream.domain.envelope import Envelope
from taskstream.producer import build_producer
from taskstream.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

_EVENTS = """
SELECT partition, "offset", event_id, type, schema_version, task_id, version, occurred_at,
       causation_id, correlation_id, tenant, payload::text AS payload
FROM task_events WHERE partition = $1 AND "offset" <= $2 ORDER BY "offset"
"""
_LINES = """
SELECT partition, "offset", task_id, tenant, attempt, seq, at, level, message
FROM task_logs WHERE partition = $1 AND "offset" <= $2 ORDER BY "offset"
"""


def event_value(row: Any) -> tuple[bytes, bytes]:
    """(key, value) of an archived event, as the scheduler wrote it."""
    ev = Envelope(
        event_id=row["event_id"], type=row["type"], schema_version=row["schema_version"],
        task_id=row["task_id"], version=row["version"], occurred_at=row["occurred_at"],
        causation_id=row["causation_id"], correlation_id=row["correlation_id"],
        tenant=row["tenant"], payload=orjson.loads(row["payload"]),
    )  # fmt: skip
    return ev.task_id.encode(), encode(ev)


def line_value(row: Any) -> tuple[bytes, bytes]:
    """(key, value) of an archived log line, as the worker wrote it."""
    doc = {
        "task_id": row["task_id"], "tenant": row["tenant"], "attempt": row["attempt"],
        "seq": row["seq"], "at": row["at"].isoformat(), "level": row["level"],
        "message": row["message"],
    }  # fmt: skip
    return row["task_id"].encode(), orjson.dumps(doc)


def fill_plan(archived: list[int], last: int) -> list[int | None]:
    """For offsets 0..`last`: the index of the archived row at that offset, or None (pure).

    `archived` is the sorted offsets of the archived rows (all <= `last`).
    """
    out: list[int | None] = [None] * (last + 1)
    for i, offset in enumerate(archived):
        out[offset] = i
    return out


@dataclass(slots=True)
class RestoreReport:
    """Records restored per topic, and the gaps filled with empty records."""

    records: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None


async def restore_log(
    settings: Settings, pool: asyncpg.Pool, progress: Progress | None = None
) -> RestoreReport:
    """Write the archive back to the events and logs topics (they must be empty)."""
    report = RestoreReport()
    if not await pool.fetchval("SELECT to_regclass('task_events') IS NOT NULL"):
        report.skipped = "no read model yet"
        return report
    plan = (
        ("events", ProjectorSettings().projector_name, _EVENTS, event_value),
        ("logs", LOGS_PROJECTION, _LINES, line_value),
    )
    for name, projection, query, to_record in plan:
        topic = settings.topic(name)
        parts = await topic_partitions(settings, topic)
        if n := await held(settings, topic, parts):
            report.skipped = f"topic {topic} already holds {n} records"
            return report
        rows = await pool.fetch(
            'SELECT partition, "offset" FROM projection_checkpoints WHERE projection = $1',
            projection,
        )
        ends = {r["partition"]: r["offset"] for r in rows}
        if ends and max(ends) >= len(parts):
            raise RuntimeError(
                f"the archive has partition {max(ends)} but {topic} has {len(parts)} partitions; "
                "set TASKSTREAM_PARTITIONS to the count the archive was written with"
            )
        total = sum(o + 1 for o in ends.values())
        report.records[topic] = report.filled[topic] = 0
        producer = build_producer(settings, linger_ms=20, max_batch_size=1 << 20)
        await producer.start()
        try:
            for partition, last in sorted(ends.items()):
                found = await pool.fetch(query, partition, last)
                futures = []
                for index in fill_plan([r["offset"] for r in found], last):
                    if index is None:
                        key, value = None, None
                        report.filled[topic] += 1
                    else:
                        key, value = to_record(found[index])
                    futures.append(await producer.send(topic, value, key=key, partition=partition))
                metas = await asyncio.gather(*futures)
                for expected, meta in enumerate(metas):
                    if meta.offset != expected:
                        raise RuntimeError(
                            f"{topic}[{partition}]: restored offset {meta.offset} where "
                            f"{expected} was expected; the topic was not empty"
                        )
                report.records[topic] += len(metas)
                if progress is not None:
                    progress(name, report.records[topic], total)
        finally:
            await producer.stop()
    return report
