"""The logs projector: applies the logs topic to `task_logs` under its own checkpoints.

The consumer loop, checkpoints and dead-lettering are `CheckpointedConsumer`'s, as for
the events; log lines need no fold, so a batch is one multi-row insert that ignores
lines already stored (projection `logs` in `projection_checkpoints`).
"""

from __future__ import annotations

import asyncpg

from projections import metrics as m
from projections.consumer import CheckpointedConsumer
from projections.logs import PROJECTION, LinesApplied, PositionedLine, apply_lines, decode_line
from taskstream.settings import Settings


class LogProjector(CheckpointedConsumer[PositionedLine, LinesApplied]):
    """Applies `settings.topic("logs")` to `task_logs` until stopped."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, name: str = PROJECTION) -> None:
        super().__init__(
            settings,
            pool,
            name=name,
            topic=settings.topic("logs"),
            group=f"{settings.topic_prefix}.projector.{name}",
            # Log lines reach the live tails from the API's own reader, not from here.
            fetch_wait_ms=settings.fetch_background_wait_ms,
        )
        self.applied_lines = 0

    def decode(self, raw: bytes | None, partition: int, offset: int) -> PositionedLine:
        """One log record, with where it was read."""
        return PositionedLine(decode_line(raw), partition, offset)

    async def apply(self, items: list[PositionedLine], checkpoints: dict[int, int]) -> LinesApplied:
        """Insert the lines and save the checkpoints, in one transaction."""
        return await apply_lines(self.pool, self.name, items, checkpoints)

    def observe(self, items: list[PositionedLine], applied: LinesApplied) -> None:
        """Count the lines stored."""
        self.applied_lines += applied.lines
        m.LOG_LINES_APPLIED.inc(applied.inserted)
        m.LOG_BATCH_SECONDS.observe(applied.seconds)
