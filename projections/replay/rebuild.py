"""Replaying the log into a shadow schema of the Postgres read model (`Replayer`).

The shadow follows the live projector's checkpoints, never the log's head: every round
reads each partition up to the live checkpoint, so at the end the shadow holds exactly
what the live model holds at the same cut (`switch.py` then moves it live).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from projections.config import ProjectorSettings
from projections.logs import PROJECTION as LOGS_PROJECTION
from projections.logs import PositionedLine, decode_line
from projections.postgres import Positioned
from projections.queue_models import create_stat_parts, merge_stat_parts
from projections.refusals import apply_isolating
from projections.replay import schema as sc
from projections.replay.apply import EventApplier, apply_lines
from projections.replay.config import ReplaySettings
from projections.replay.progress import records_total
from projections.replay.source import PartitionReader, topic_partitions
from projections.search.pg_index import create_search_parts, merge_search_parts
from taskstream.codec import decode as decode_envelope
from taskstream.domain.errors import DecodeError
from taskstream.settings import Settings

log = logging.getLogger(__name__)

# An index definition (`pg_get_indexdef`) on the search documents' table.
_ON_SEARCH = re.compile(r" ON (?:\S+\.)?task_search ")

# Tables the Postgres target always rebuilds (others: only when the replay filled them).
OWN_TABLES = frozenset(
    {
        "tasks",
        "task_events",
        "task_attempts",
        "task_logs",
        "task_search",
        "schedules",
        "queue_settings",
        "queues",
        "queue_stats",
        "projection_checkpoints",
    }
)

Progress = Callable[[str, int, int], None]  # (topic name, records done, records known)


def stamp() -> str:
    """A schema-name suffix from the current time."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


@dataclass(slots=True)
class Stream:
    """One topic being replayed: its reader, its projection and what was skipped."""

    name: str
    projection: str
    reader: PartitionReader
    done: dict[int, int] = field(default_factory=dict)  # last applied offset per partition
    undecodable: int = 0
    refused: int = 0  # records Postgres refused (the live projector dead-lettered them)
    applied: int = 0


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild did."""

    schema: str
    events: int = 0
    lines: int = 0
    undecodable: int = 0
    refused: int = 0
    fold_errors: int = 0
    seconds: float = 0.0
    switched: bool = False
    swapped: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    old_schema: str | None = None
    checkpoints: dict[str, dict[int, int]] = field(default_factory=dict)
    # Records (events and log lines) the shadow held already when this run resumed it.
    resumed_from: int = 0


class Replayer:
    """Replays the events and logs topics into a shadow schema, following the live cut."""

    def __init__(
        self,
        settings: Settings,
        schema: str,
        *,
        replay: ReplaySettings | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.replay = replay or ReplaySettings()
        self.schema = schema
        self.progress = progress
        self.tasks_projection = ProjectorSettings().projector_name
        self.applier = EventApplier(
            self.tasks_projection,
            cache_size=self.replay.replay_state_cache,
            search_max_chars=settings.search_max_text_chars,
        )
        self.live: asyncpg.Pool | None = None
        self.shadow: asyncpg.Pool | None = None
        self.live_schema = "public"
        self.streams: list[Stream] = []
        self.started = time.monotonic()
        self.resumed_from = 0  # records the shadow held when `open` found it

    async def open(self, *, create: bool = True, partitions: set[int] | None = None) -> None:
        """Connect, create and migrate the shadow schema (unless it exists: `create` false),
        and open one reader per topic (over `partitions` only, when given), each partition
        from the shadow's checkpoint on (offset 0 in a new shadow)."""
        self.live = await asyncpg.create_pool(self.settings.postgres_dsn, min_size=1, max_size=2)
        self.live_schema = await sc.live_schema(self.live)
        dsn = self.settings.postgres_dsn
        self.shadow = await (
            sc.create_shadow(dsn, self.schema, self.live_schema)
            if create
            else sc.shadow_pool(dsn, self.schema, self.live_schema)
        )
        for name, projection in (("events", self.tasks_projection), ("logs", LOGS_PROJECTION)):
            topic = self.settings.topic(name)
            parts = await topic_partitions(self.settings, topic)
            if partitions is not None:
                parts = [p for p in parts if p in partitions]
            done = dict.fromkeys(parts, -1)
            if not create:
                saved = await sc.read_checkpoints(self.shadow, self.schema, projection)
                done.update({p: o for p, o in saved.items() if p in done})
            reader = PartitionReader(self.settings, topic, {p: o + 1 for p, o in done.items()})
            await reader.start()
            await reader.learn_highwaters()
            self.streams.append(Stream(name, projection, reader, done))
            self.resumed_from += sum(o + 1 for o in done.values())

    async def close(self) -> None:
        """Stop the readers and close the pools (the shadow schema stays)."""
        streams, self.streams = self.streams, []
        for s in streams:
            await s.reader.stop()
        pools, self.shadow, self.live = (self.shadow, self.live), None, None
        for pool in pools:
            if pool is not None:
                await pool.close()

    async def live_targets(self, conn: Any = None) -> dict[str, dict[int, int]]:
        """The live checkpoints of each stream's projection."""
        db = conn or self.live
        return {
            s.name: await sc.read_checkpoints(db, self.live_schema, s.projection)
            for s in self.streams
        }

    def head_targets(self) -> dict[str, dict[int, int]]:
        """Every record the readers' high watermarks cover (no live projector to follow)."""
        return {
            s.name: {p: hw - 1 for p, hw in s.reader.highwaters().items()} for s in self.streams
        }

    def behind(self, targets: dict[str, dict[int, int]]) -> int:
        """Records the shadow still lacks to reach `targets`."""
        return sum(sc.remaining(targets[s.name], s.done) for s in self.streams)

    async def needs_bulk(self, targets: dict[str, dict[int, int]]) -> bool:
        """Whether to reach `targets` by a bulk load: always in a new shadow, and in one
        whose bulk load stopped (its indexes are still to build); in a resumed shadow whose
        load had finished, only when more records are behind than it holds (then building
        its indexes again costs less than applying the records with them in place)."""
        assert self.shadow is not None
        if self.resumed_from == 0 or await sc.bulk_pending(self.shadow, self.schema):
            return True
        return self.behind(targets) > self.resumed_from

    async def bulk(self, targets: dict[str, dict[int, int]]) -> None:
        """Replay up to `targets`, split over `replay_workers` processes by partition (the
        tasks of one partition never touch another's); then resume from what they wrote.

        The shadow's non-unique indexes and the archive's primary key are dropped for the
        load and built once after it; the queue statistics are summed and the search
        documents written once at its end.
        What the load dropped and the statistics of each batch are kept in the shadow
        with its checkpoints, so a load that stopped resumes (`open(create=False)`).
        """
        assert self.shadow is not None
        async with self.shadow.acquire() as conn:
            state = await sc.begin_bulk(conn, self.schema)
            await create_stat_parts(conn)
            await create_search_parts(conn)
        self.applier.archive_keyed = False
        try:
            await self._bulk(targets)
        finally:
            self.applier.archive_keyed = True
        started = time.monotonic()
        done: dict[str, int] = {"stat_rows": 0, "copies": 0, "documents": 0}

        async def archive_key(conn: asyncpg.Connection) -> None:
            done["copies"] = await sc.restore_archive_key(conn, self.schema)

        async def merge_stats(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                done["stat_rows"] = await merge_stat_parts(conn)

        # The documents are written before their table's indexes are built (not into them).
        search_indexes = [d for d in state.indexes if _ON_SEARCH.search(d)]

        async def merge_search(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                done["documents"] = await merge_search_parts(conn)
            for definition in search_indexes:
                await conn.execute(definition)

        # The key, the statistics, the documents and the indexes on as many connections
        # as the pool has.
        key = [archive_key] if state.archive_keyed else []
        others = [d for d in state.indexes if d not in search_indexes]
        await sc.create_indexes(self.shadow, others, first=[*key, merge_search, merge_stats])
        stat_rows, copies = done["stat_rows"], done["copies"]
        await sc.end_bulk(self.shadow, self.schema)
        log.info(
            "shadow indexes built",
            extra={
                "indexes": len(state.indexes) + state.archive_keyed,
                "archive_copies_dropped": copies,
                "queue_stat_rows": stat_rows,
                "search_documents": done["documents"],
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    async def _bulk(self, targets: dict[str, dict[int, int]]) -> None:
        workers = min(self.replay.replay_workers, max(len(s.done) for s in self.streams) or 1)
        # Starting a process costs seconds: small replays stay in this one.
        if workers <= 1 or self.behind(targets) < 5 * self.replay.replay_batch_size:
            await self.bulk_catch_up(targets)
            return
        from projections.replay.workers import run_workers

        await run_workers(self, targets, workers)
        assert self.shadow is not None
        for s in self.streams:
            s.done.update(await sc.read_checkpoints(self.shadow, self.schema, s.projection))
            s.reader.seek({p: o + 1 for p, o in s.done.items()})

    async def bulk_catch_up(self, targets: dict[str, dict[int, int]]) -> None:
        """`catch_up` on the shadow for a bulk load: each batch appends its queue
        statistics to the load's documents (`STAT_PARTS`; `bulk` sums them at the end)
        and its tasks' searchable text to `SEARCH_PARTS` (`bulk` writes the documents)."""
        assert self.shadow is not None
        self.applier.stat_parts = self.applier.search_parts = True
        try:
            await self.catch_up(self.shadow, targets)
        finally:
            self.applier.stat_parts = self.applier.search_parts = False

    async def follow(self) -> None:
        """Replay until the shadow is within `replay_switch_gap` records of the live cut."""
        while True:
            targets = await self.live_targets()
            if self.behind(targets) <= self.replay.replay_switch_gap:
                return
            for s in self.streams:
                await self._catch_up(s, targets[s.name], self.shadow)

    async def catch_up(self, conn: Any, targets: dict[str, dict[int, int]]) -> None:
        """Apply everything up to exactly `targets` on `conn` (inside its transaction)."""
        for s in self.streams:
            await self._catch_up(s, targets[s.name], conn)

    async def _catch_up(self, s: Stream, targets: dict[int, int], db: Any) -> None:
        size = self.replay.replay_batch_size
        pending: asyncio.Task[None] | None = None
        try:
            while not s.reader.done(targets):
                items: list[Any] = []
                checkpoints: dict[int, int] = {}
                while len(items) < size and not s.reader.done(targets):
                    fetched = await s.reader.fetch(targets, max_records=size - len(items))
                    for partition, records in fetched:
                        checkpoints[partition] = records[-1].offset
                        items.extend(self._decode(s, partition, records))
                if pending is not None:
                    await pending  # batches apply in log order: the fold depends on it
                pending = asyncio.create_task(self._apply(s, db, items, checkpoints))
        finally:
            if pending is not None:
                await pending

    def _decode(self, s: Stream, partition: int, records: list[Any]) -> list[Any]:
        out: list[Any] = []
        for r in records:
            try:
                if s.name == "events":
                    out.append(Positioned(decode_envelope(r.value), partition, r.offset))
                else:
                    out.append(PositionedLine(decode_line(r.value), partition, r.offset))
            except DecodeError:
                # The live projector sent it to the dead-letter topic already; the
                # checkpoint moves past it here as it did there.
                s.undecodable += 1
        return out

    async def _apply(self, s: Stream, db: Any, items: list[Any], ckpts: dict[int, int]) -> None:
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as conn:
                await self._apply_on(s, conn, items, ckpts)
        else:
            await self._apply_on(s, db, items, ckpts)
        s.done.update(ckpts)
        s.applied += len(items)
        # What survives a batch (the state cache, mostly) lives until the rebuild ends or
        # the cache lets it go, and reference counting frees it then; frozen, the
        # collector's full passes stop walking it (they took 15% of a rebuild).
        gc.freeze()
        if self.progress is not None:
            known = records_total(s.reader.highwaters(), {})
            self.progress(s.name, sum(o + 1 for o in s.done.values()), known)

    async def _apply_on(
        self, s: Stream, conn: asyncpg.Connection, items: list[Any], ckpts: dict[int, int]
    ) -> None:
        async def apply(part: list[Any], checkpoints: dict[int, int]) -> None:
            if s.name == "events":
                await self.applier.apply(conn, part, checkpoints)
            else:
                await apply_lines(conn, s.projection, part, checkpoints)

        async def set_aside(item: Any, exc: BaseException) -> None:
            # As the live projector does: it sent the record to the dead-letter topic.
            s.refused += 1
            log.warning(
                "record refused by Postgres; skipped",
                extra={"topic": s.name, "partition": item.partition, "offset": item.offset,
                       "error": repr(exc)},
            )  # fmt: skip

        await apply_isolating(
            apply,
            items,
            ckpts,
            refused_max=self.settings.projector_refused_max,
            on_refused=set_aside,
        )

    def report(self) -> RebuildReport:
        """What was replayed so far (records covered by the shadow's checkpoints, so the
        workers' share counts too)."""
        covered = {s.name: sum(o + 1 for o in s.done.values()) for s in self.streams}
        return RebuildReport(
            schema=self.schema,
            events=covered.get("events", 0),
            lines=covered.get("logs", 0),
            undecodable=sum(s.undecodable for s in self.streams),
            refused=sum(s.refused for s in self.streams),
            fold_errors=self.applier.fold_errors,
            seconds=time.monotonic() - self.started,
            checkpoints={s.projection: dict(s.done) for s in self.streams},
            resumed_from=self.resumed_from,
        )
