"""The `task_logs` table: log lines from the logs topic, applied with their checkpoints.

A line is identified by `(task_id, attempt, seq)`; inserting is `ON CONFLICT DO NOTHING`,
so a replayed batch (a crash before the commit, a rebalance) changes nothing. Lines go in
as one JSON document (`json_to_recordset`): one round trip whatever the batch size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from projections.locks import share_batch_lock
from projections.postgres import encode_rows
from taskstream.domain.errors import DecodeError

log = logging.getLogger(__name__)

PROJECTION = "logs"

_INSERT = """
INSERT INTO task_logs (task_id, attempt, seq, at, level, message, tenant, partition, "offset")
SELECT r.task_id, r.attempt, r.seq, r.at, r.level, r.message, r.tenant, r.partition, r."offset"
FROM json_to_recordset($1::json) AS r(
    task_id text, attempt int, seq int, at timestamptz, level text, message text, tenant text,
    partition int, "offset" bigint)
ON CONFLICT (task_id, attempt, seq) DO NOTHING
"""

_SAVE_CHECKPOINTS = """
INSERT INTO projection_checkpoints (projection, partition, "offset", updated_at)
SELECT $1, u.partition, u.off, now() FROM unnest($2::int[], $3::bigint[]) AS u(partition, off)
ON CONFLICT (projection, partition) DO UPDATE
SET "offset" = EXCLUDED."offset", updated_at = EXCLUDED.updated_at
"""


class LogLine(BaseModel):
    """One record of the logs topic, as `streams.worker.logsink` writes it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str = Field(min_length=1)
    tenant: str = "default"
    attempt: int = Field(ge=0)
    seq: int = Field(ge=1)
    at: datetime
    level: str
    message: str


def decode_line(raw: bytes | None) -> LogLine:
    """The log line in one record value (raises `DecodeError`)."""
    if raw is None:
        raise DecodeError("record has no value")
    try:
        return LogLine.model_validate_json(raw)
    except ValidationError as exc:
        raise DecodeError(f"not a log line: {exc}".replace("\n", " ")[:2000]) from exc


class PositionedLine(NamedTuple):
    """A log line with where it was read.

    A named tuple: one is made per record, at half the cost of a frozen dataclass.
    """

    line: LogLine
    partition: int
    offset: int


def line_rows(batch: Sequence[PositionedLine], *, no_nul: bool = False) -> str:
    """The batch as one JSON array for `json_to_recordset`."""
    return encode_rows(
        [
            {
                "task_id": (ln := item.line).task_id,
                "attempt": ln.attempt,
                "seq": ln.seq,
                "at": ln.at.isoformat(),
                "level": ln.level,
                "message": ln.message,
                "tenant": ln.tenant,
                "partition": item.partition,
                "offset": item.offset,
            }
            for item in batch
        ],
        no_nul=no_nul,
    )


@dataclass(frozen=True, slots=True)
class LinesApplied:
    """What one applied batch of log lines did."""

    lines: int
    inserted: int
    seconds: float


async def apply_lines(
    pool: asyncpg.Pool,
    projection: str,
    batch: Sequence[PositionedLine],
    checkpoints: Mapping[int, int],
) -> LinesApplied:
    """Insert `batch` and save `checkpoints` in one transaction (idempotent).

    A batch Postgres refuses for a U+0000 character is stored with U+FFFD instead.
    """
    try:
        return await _apply(pool, projection, batch, checkpoints, no_nul=False)
    except asyncpg.UntranslatableCharacterError:
        log.warning("log batch holds U+0000, stored as U+FFFD", extra={"lines": len(batch)})
        return await _apply(pool, projection, batch, checkpoints, no_nul=True)


async def _apply(
    pool: asyncpg.Pool,
    projection: str,
    batch: Sequence[PositionedLine],
    checkpoints: Mapping[int, int],
    *,
    no_nul: bool,
) -> LinesApplied:
    started = time.perf_counter()
    inserted = 0
    async with pool.acquire() as conn, conn.transaction():
        await share_batch_lock(conn)  # a rebuild's switch-over runs between batches
        if batch:
            status = await conn.execute(_INSERT, line_rows(batch, no_nul=no_nul))
            inserted = int(status.rsplit(" ", 1)[-1])
        if checkpoints:
            parts = sorted(checkpoints)
            await conn.execute(
                _SAVE_CHECKPOINTS, projection, parts, [checkpoints[p] for p in parts]
            )
    return LinesApplied(len(batch), inserted, time.perf_counter() - started)
