"""Applying a replayed batch to a fresh model, fast: COPY for the rows, the projector's fold.

The archive and the log lines are appended with COPY (binary). Tasks new to the model
(most of a batch's: a task's events sit close together in the log) are COPYed straight
into `tasks`, their attempts into `task_attempts`; the rest are COPYed into a temporary
staging table and upserted from it with the projector's own version guard, their
attempts upserted as the projector does. Search rows, schedules, queue settings, queue
statistics and checkpoints go through the projector's own functions. The fold is
`fold_batch`, exactly what the projector runs, over stored states kept in memory between
batches (the rebuild is the only writer of its model). A batch the fast path cannot take
(a duplicate event id or log line, a U+0000 character) is applied again through the
projector's statements, which skip duplicates and store U+0000 as U+FFFD, as the live
projector does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import msgspec
import orjson

from projections.aggregate_fold import split_aggregates
from projections.attempts import attempt_changes, write_attempts
from projections.fold import affected_task_ids, fold_batch, fold_extras
from projections.logs import PositionedLine, line_rows
from projections.postgres import (
    _INSERT_EVENTS,
    _SAVE_CHECKPOINTS,
    _UPSERT_TASKS,
    Positioned,
    _event_rows,
    _task_rows,
    encode_rows,
    load_states,
    without_nul,
)
from projections.queue_models import append_stat_part, apply_queue_models
from projections.queue_settings import apply_queues
from projections.schedules import apply_schedules
from projections.search.pg_index import (
    DEFAULT_MAX_CHARS,
    append_search_parts,
    search_records,
    search_rows,
    write_search,
)
from taskstream.domain.state import TaskState, copy_with

EVENT_COLUMNS = (
    "event_id", "task_id", "version", "type", "tenant", "occurred_at", "causation_id",
    "correlation_id", "payload", "schema_version", "partition", "offset",
)  # fmt: skip
TASK_COLUMNS = (
    "id", "tenant", "queue", "type", "status", "priority", "version", "created_at",
    "updated_at", "run_at", "attempts", "state", "fold",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "task_id", "number", "tenant", "worker", "started_at", "finished_at", "outcome", "error",
    "traceback", "version",
)  # fmt: skip
LINE_COLUMNS = (
    "task_id", "attempt", "seq", "at", "level", "message", "tenant", "partition", "offset",
)  # fmt: skip

_STAGE = "CREATE TEMP TABLE IF NOT EXISTS replay_stage_tasks (LIKE tasks) ON COMMIT DELETE ROWS"
_FROM_STAGE = (
    _UPSERT_TASKS.split("SELECT", 1)[0]
    + ("SELECT " + ", ".join(f'"{c}"' for c in TASK_COLUMNS) + " FROM replay_stage_tasks\n")
    + "ON CONFLICT"
    + _UPSERT_TASKS.split("ON CONFLICT", 1)[1]
)

_LINE_INSERT = """
INSERT INTO task_logs (task_id, attempt, seq, at, level, message, tenant, partition, "offset")
SELECT r.task_id, r.attempt, r.seq, r.at, r.level, r.message, r.tenant, r.partition, r."offset"
FROM json_to_recordset($1::json) AS r(
    task_id text, attempt int, seq int, at timestamptz, level text, message text, tenant text,
    partition int, "offset" bigint)
ON CONFLICT (task_id, attempt, seq) DO NOTHING
"""

# The projector's statement without its conflict target, for an archive whose key is
# dropped for a bulk load (later copies of an event are dropped when it is built again).
_INSERT_EVENTS_UNKEYED = _INSERT_EVENTS.split("ON CONFLICT", 1)[0]

# Refusals that send a batch down the projector's slower statements.
_FALLBACK = (asyncpg.UniqueViolationError, asyncpg.UntranslatableCharacterError)
_NUL = (asyncpg.UntranslatableCharacterError, asyncpg.CharacterNotInRepertoireError)


# A kept state forgets the commands it saw, as a state loaded from the model does.
_FORGOTTEN: dict[str, Any] = {"seen_commands": frozenset()}
_ENCODE = msgspec.json.Encoder().encode


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits (the codec decodes it exactly)
        return _ENCODE(value).decode()


def event_record(item: Positioned) -> tuple[Any, ...]:
    """One archive row for COPY, in `EVENT_COLUMNS` order."""
    ev = item.event
    return (
        ev.event_id, ev.task_id, ev.version, ev.type, ev.tenant, ev.occurred_at,
        ev.causation_id, ev.correlation_id, without_nul(_json(ev.payload)), ev.schema_version,
        item.partition, item.offset,
    )  # fmt: skip


def state_json(s: TaskState) -> str:
    """`s.as_dict()` as JSON text, its times written by orjson (as `isoformat` writes them)."""
    try:
        return orjson.dumps(s.as_dict(native_times=True)).decode()
    except TypeError:  # an integer beyond 64 bits: msgspec would write times with "Z"
        return _json(s.as_dict())


def task_record(s: TaskState) -> tuple[Any, ...]:
    """One task row for COPY, in `TASK_COLUMNS` order (what the projector upserts)."""
    return (
        s.id, s.tenant, s.queue, s.type, s.status.value, s.priority, s.version, s.created_at,
        s.updated_at, s.run_at, len(s.attempts), state_json(s), _json(fold_extras(s)),
    )  # fmt: skip


def attempt_records(states: Iterable[TaskState]) -> list[tuple[Any, ...]]:
    """Every attempt row of `states`, for COPY in `ATTEMPT_COLUMNS` order: what
    `attempt_changes` writes for tasks with no stored state."""
    return [
        (s.id, a.number, s.tenant, a.worker, a.started_at, a.finished_at, a.outcome, a.error,
         a.traceback, s.version)
        for s in states
        for a in s.attempts
    ]  # fmt: skip


def line_record(item: PositionedLine) -> tuple[Any, ...]:
    """One log row for COPY, in `LINE_COLUMNS` order."""
    ln = item.line
    return (
        ln.task_id, ln.attempt, ln.seq, ln.at, ln.level, ln.message, ln.tenant,
        item.partition, item.offset,
    )  # fmt: skip


async def save_checkpoints(conn: Any, projection: str, checkpoints: Mapping[int, int]) -> None:
    """The projector's checkpoint statement."""
    if checkpoints:
        parts = sorted(checkpoints)
        await conn.execute(_SAVE_CHECKPOINTS, projection, parts, [checkpoints[p] for p in parts])


class EventApplier:
    """Applies replayed event batches on a connection whose `search_path` names the model."""

    def __init__(
        self,
        projection: str,
        *,
        cache_size: int = 200_000,
        search_max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.projection = projection
        self.search_max_chars = search_max_chars
        self.cache_size = cache_size
        self._states: OrderedDict[str, TaskState] = OrderedDict()
        self.fold_errors = 0
        # False while the archive's primary key is dropped (`schema.drop_archive_key`).
        self.archive_keyed = True
        # True during a bulk load: each batch appends its queue statistics to the
        # `STAT_PARTS` table (`append_stat_part`), summed into `queue_stats` once at the
        # load's end (`merge_stat_parts`); False: each batch adds its own into
        # `queue_stats`.
        self.stat_parts = False
        # True during a bulk load too: each batch appends its tasks' searchable text to
        # `SEARCH_PARTS`, made into documents once at the load's end
        # (`merge_search_parts`); False: the projector's upsert of documents.
        self.search_parts = False

    async def apply(
        self, conn: asyncpg.Connection, batch: Sequence[Positioned], checkpoints: Mapping[int, int]
    ) -> dict[str, TaskState]:
        """Archive, fold and checkpoint `batch` in one transaction (a savepoint when `conn`
        is already in one); returns the task states it moved forward."""
        try:
            async with conn.transaction():
                changed = await self._apply(conn, batch, checkpoints, fast=True)
        except (*_FALLBACK, *_NUL) as exc:
            try:
                async with conn.transaction():
                    no_nul = isinstance(exc, _NUL)
                    changed = await self._apply(conn, batch, checkpoints, fast=False, no_nul=no_nul)
            except _NUL:
                async with conn.transaction():
                    changed = await self._apply(conn, batch, checkpoints, fast=False, no_nul=True)
        for tid, state in changed.items():
            self._states[tid] = copy_with(state, _FORGOTTEN)
            self._states.move_to_end(tid)
        while len(self._states) > self.cache_size:
            self._states.popitem(last=False)
        return changed

    async def _stored(self, conn: asyncpg.Connection, ids: list[str]) -> dict[str, TaskState]:
        stored = {tid: s for tid in ids if (s := self._states.get(tid)) is not None}
        missing = [tid for tid in ids if tid not in stored]
        if missing:
            stored.update(await load_states(conn, missing))
        return stored

    @staticmethod
    async def _copy_new(conn: asyncpg.Connection, states: list[TaskState]) -> None:
        """COPY the rows of tasks the model has no row for: task rows, attempts."""
        if states:
            await conn.copy_records_to_table(
                "tasks", records=[task_record(s) for s in states], columns=TASK_COLUMNS
            )
        attempts = attempt_records(states)
        if attempts:
            await conn.copy_records_to_table(
                "task_attempts", records=attempts, columns=ATTEMPT_COLUMNS
            )

    @staticmethod
    async def _upsert_staged(conn: asyncpg.Connection, states: list[TaskState]) -> None:
        """Upsert task rows through the staging table (COPY, then the version guard)."""
        if states:
            await conn.execute(_STAGE)
            await conn.copy_records_to_table(
                "replay_stage_tasks", records=[task_record(s) for s in states], columns=TASK_COLUMNS
            )
            await conn.execute(_FROM_STAGE)
            await conn.execute("TRUNCATE replay_stage_tasks")

    async def _apply(
        self,
        conn: asyncpg.Connection,
        batch: Sequence[Positioned],
        checkpoints: Mapping[int, int],
        *,
        fast: bool,
        no_nul: bool = False,
    ) -> dict[str, TaskState]:
        events, schedule_events, queue_events = split_aggregates([i.event for i in batch])
        if fast:
            await conn.copy_records_to_table(
                "task_events", records=[event_record(i) for i in batch], columns=EVENT_COLUMNS
            )
        else:
            insert = _INSERT_EVENTS if self.archive_keyed else _INSERT_EVENTS_UNKEYED
            await conn.execute(insert, _event_rows(batch))
        stored = await self._stored(conn, affected_task_ids(events))
        result = fold_batch(stored, events)
        self.fold_errors += len(result.errors)
        if result.changed:
            states = list(result.changed.values())
            if fast:
                # No stored state means no row: the applier is its model's only writer.
                # Were one there all the same, the COPY's unique violation sends the
                # batch down the upserts.
                again = [s for s in states if s.id in stored]
                await self._copy_new(conn, [s for s in states if s.id not in stored])
                await self._upsert_staged(conn, again)
            else:
                again = states
                await conn.execute(_UPSERT_TASKS, _task_rows(states, no_nul=no_nul))
            changes = attempt_changes(stored, again)
            await write_attempts(conn, changes, lambda rows: encode_rows(rows, no_nul=no_nul))
            if fast and self.search_parts:
                texts = search_records(stored, states, max_chars=self.search_max_chars)
                await append_search_parts(conn, texts)
            else:
                searchable = search_rows(stored, states, max_chars=self.search_max_chars)
                await write_search(conn, searchable, lambda rows: encode_rows(rows, no_nul=no_nul))
        if schedule_events:
            await apply_schedules(conn, schedule_events)
        if queue_events:
            await apply_queues(conn, queue_events)
        # Queues, per-minute statistics: the same writes as the projector's batch (the
        # counters' change it returns is for Redis, which `replay rebuild redis` refills).
        # In a bulk load each batch's statistics are appended as one document and summed
        # once at its end: batch by batch into `queue_stats`, each minute's row was
        # written again by the next batch and by the other replay processes' (conflict
        # updates that waited on each other's row locks).
        effects = await apply_queue_models(
            conn, self.projection, result, checkpoints, counters=False, defer_stats=self.stat_parts
        )
        if effects.stats:
            await append_stat_part(conn, effects.stats)
        await save_checkpoints(conn, self.projection, checkpoints)
        return result.changed


async def apply_lines(
    conn: asyncpg.Connection,
    projection: str,
    batch: Sequence[PositionedLine],
    checkpoints: Mapping[int, int],
) -> None:
    """Append replayed log lines with COPY and save `checkpoints`, in one transaction;
    duplicates and U+0000 fall back to the log projector's statement."""
    try:
        async with conn.transaction():
            if batch:
                await conn.copy_records_to_table(
                    "task_logs", records=[line_record(i) for i in batch], columns=LINE_COLUMNS
                )
            await save_checkpoints(conn, projection, checkpoints)
    except (*_FALLBACK, *_NUL) as exc:
        async with conn.transaction():
            no_nul = isinstance(exc, _NUL)
            await conn.execute(_LINE_INSERT, line_rows(batch, no_nul=no_nul))
            await save_checkpoints(conn, projection, checkpoints)
