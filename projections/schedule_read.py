"""Queries on the schedules read model, for the API.

Listing is newest first with keyset pagination on (created_at, id), with the same
opaque cursors as the task listing. A schedule's fires come from the event archive.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from projections.read import decode_cursor, encode_cursor


class ScheduleReadModel:
    """Schedules and their recent fires, as the projector last wrote them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_schedule(
        self, tenant: str, schedule_id: str, *, fires: int = 20
    ) -> dict[str, Any] | None:
        """The schedule (`ScheduleState.as_dict()` shape) with its latest `fires`
        (newest first), or None if unknown to `tenant`."""
        raw = await self._pool.fetchval(
            "SELECT state::text FROM schedules WHERE id = $1 AND tenant = $2",
            schedule_id,
            tenant,
        )
        if raw is None:
            return None
        rows = await self._pool.fetch(
            "SELECT payload::text AS payload FROM task_events"
            " WHERE task_id = $1 AND tenant = $2 AND type = 'schedule.fired'"
            " ORDER BY occurred_at DESC LIMIT $3",
            schedule_id,
            tenant,
            fires,
        )
        out = dict(orjson.loads(raw))
        out["recent_fires"] = [_fire(orjson.loads(r["payload"])) for r in rows]
        return out

    async def list_schedules(
        self, tenant: str, *, include_deleted: bool, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of schedules, newest first, and the next page's cursor (or None)."""
        if limit < 1:
            raise ValueError("limit")
        where = ["tenant = $1"]
        args: list[Any] = [tenant]
        if not include_deleted:
            where.append("NOT deleted")
        if cursor is not None:
            created_at, schedule_id = decode_cursor(cursor)
            args += [created_at, schedule_id]
            where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        rows = await self._pool.fetch(
            "SELECT id, created_at, state::text AS state FROM schedules"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
        return [orjson.loads(r["state"]) for r in page], next_cursor


def _fire(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "due_at": payload["due_at"],
        "fired_at": payload["fired_at"],
        "task_id": payload["task_id"],
        "missed": payload.get("missed", 0),
    }
