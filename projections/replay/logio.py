"""`log export` and `log import`: topics to JSON Lines and back, offsets preserved.

Export reads each partition from offset 0 up to the high watermark a Fetch reported when
it began (later records may or may not be included). Import appends each record to the
partition it came from, in file order; into empty topics that gives every record its
original offset, which import checks record by record.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from projections.replay.jsonl import LogRecord, decode_line, encode_line
from projections.replay.progress import records_total
from projections.replay.source import PartitionReader, topic_partitions
from taskstream.producer import build_producer
from taskstream.settings import Settings

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class ExportReport:
    """Records written per topic."""

    records: dict[str, int] = field(default_factory=dict)


async def export_topics(
    settings: Settings, topics: Iterable[str], out: IO[bytes], progress: Progress | None = None
) -> ExportReport:
    """Write every record of `topics` (full names) to `out` as JSON Lines."""
    report = ExportReport()
    for topic in topics:
        parts = await topic_partitions(settings, topic)
        report.records[topic] = 0
        if not parts:
            continue
        reader = PartitionReader(settings, topic, dict.fromkeys(parts, 0))
        await reader.start()
        try:
            highwaters = await reader.learn_highwaters()
            targets = {p: hw - 1 for p, hw in highwaters.items()}
            total = records_total(highwaters, {})
            while not reader.done(targets):
                for partition, records in await reader.fetch(targets, max_records=10_000):
                    for r in records:
                        out.write(encode_line(_record(topic, partition, r)))
                    report.records[topic] += len(records)
                if progress is not None:
                    progress(topic, report.records[topic], total)
        finally:
            await reader.stop()
    return report


def _record(topic: str, partition: int, r: Any) -> LogRecord:
    headers = tuple((k, bytes(v)) for k, v in (r.headers or ()))
    return LogRecord(topic, partition, r.offset, r.key, r.value, r.timestamp, headers)


def read_lines(path: Path) -> Iterator[LogRecord]:
    """The records of a JSON Lines file (raises `ValueError` naming the line)."""
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield decode_line(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None


def survey(records: Iterable[LogRecord]) -> dict[str, dict[int, int]]:
    """Records per topic and partition (pure)."""
    out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        out[r.topic][r.partition] += 1
    return {t: dict(p) for t, p in out.items()}


@dataclass(slots=True)
class ImportReport:
    """Records written per topic, and records whose offset differs from the file's."""

    records: dict[str, int] = field(default_factory=dict)
    moved: int = 0
    first_moved: list[str] = field(default_factory=list)


class NotEmpty(RuntimeError):
    """A target topic already holds records."""


async def _ensure(settings: Settings, topic: str, partitions: int) -> list[int]:
    parts = await topic_partitions(settings, topic)
    if parts:
        if max(parts) + 1 < partitions:
            raise ValueError(
                f"topic {topic} has {len(parts)} partitions, the file needs {partitions}"
            )
        return parts
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, max(partitions, settings.partitions), 1)])
    finally:
        await admin.close()
    return await topic_partitions(settings, topic)


async def held(settings: Settings, topic: str, parts: list[int]) -> int:
    """Records `topic` holds (from Fetch high watermarks)."""
    reader = PartitionReader(settings, topic, dict.fromkeys(parts, 0))
    await reader.start()
    try:
        return records_total(await reader.learn_highwaters(), {})
    finally:
        await reader.stop()


async def import_file(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    chunk: int = 5_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Append the records of `path` to their topics and partitions, in file order."""
    counts = survey(read_lines(path))
    for topic, parts in counts.items():
        existing = await _ensure(settings, topic, max(parts) + 1)
        if not force and (n := await held(settings, topic, existing)):
            raise NotEmpty(f"topic {topic} already holds {n} records (use --force to append)")
    report = ImportReport(records=dict.fromkeys(counts, 0))
    totals = {t: sum(p.values()) for t, p in counts.items()}
    producer = build_producer(settings, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        batch: list[tuple[LogRecord, Any]] = []
        for record in read_lines(path):
            fut = await producer.send(
                record.topic, record.value, key=record.key, partition=record.partition,
                timestamp_ms=record.timestamp, headers=list(record.headers) or None,
            )  # fmt: skip
            batch.append((record, fut))
            if len(batch) >= chunk:
                await _settle(batch, report, totals, progress)
        await _settle(batch, report, totals, progress)
    finally:
        await producer.stop()
    return report


async def _settle(
    batch: list[tuple[LogRecord, Any]],
    report: ImportReport,
    totals: dict[str, int],
    progress: Progress | None,
) -> None:
    metas = await asyncio.gather(*(fut for _, fut in batch))
    for (record, _), meta in zip(batch, metas, strict=True):
        report.records[record.topic] += 1
        if meta.offset != record.offset:
            report.moved += 1
            if len(report.first_moved) < 5:
                report.first_moved.append(
                    f"{record.topic}[{record.partition}] offset {record.offset} -> {meta.offset}"
                )
    if progress is not None and batch:
        topic = batch[-1][0].topic
        progress(topic, report.records[topic], totals[topic])
    batch.clear()
