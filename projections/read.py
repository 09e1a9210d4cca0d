"""Queries on the Postgres read model, for the API.

JSON columns are selected as text and parsed here, so results do not depend on the
pool's type codecs. Listing is newest first with keyset pagination on
(created_at, id): the cursor names the last row of the previous page.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from taskstream.domain.state import Status

_EVENT_COLUMNS = (
    "event_id, type, schema_version, task_id, version, occurred_at, causation_id,"
    ' correlation_id, tenant, payload::text AS payload, partition, "offset"'
)


def encode_cursor(created_at: datetime, task_id: str) -> str:
    """The opaque cursor that continues a listing after (`created_at`, `task_id`)."""
    raw = orjson.dumps([created_at.isoformat(), task_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names (raises `ValueError("cursor")` for anything else)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, task_id = orjson.loads(raw)
        moment = datetime.fromisoformat(created)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("cursor") from exc
    if not isinstance(task_id, str) or moment.tzinfo is None:
        raise ValueError("cursor")
    return moment, task_id


def _event(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "type": row["type"],
        "schema_version": row["schema_version"],
        "task_id": row["task_id"],
        "version": row["version"],
        "occurred_at": row["occurred_at"].isoformat(),
        "causation_id": row["causation_id"],
        "correlation_id": row["correlation_id"],
        "tenant": row["tenant"],
        "payload": orjson.loads(row["payload"]),
        "partition": row["partition"],
        "offset": row["offset"],
    }


class ReadModel:
    """Tasks, their events and counts, as the projector last wrote them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_task(self, tenant: str, task_id: str) -> dict[str, Any] | None:
        """The task's state (`TaskState.as_dict()` shape), or None if unknown to `tenant`."""
        raw = await self._pool.fetchval(
            "SELECT state::text FROM tasks WHERE id = $1 AND tenant = $2", task_id, tenant
        )
        return None if raw is None else dict(orjson.loads(raw))

    async def list_tasks(
        self,
        tenant: str,
        *,
        status: str | None,
        queue: str | None,
        type: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of tasks, newest first, and the cursor of the next page (None at the end)."""
        if limit < 1:
            raise ValueError("limit")
        # Only the filters given make it into the SQL, so each shape of query gets a plan
        # that uses its own index.
        where = ["tenant = $1"]
        args: list[Any] = [tenant]
        for column, value in (("status", status), ("queue", queue), ("type", type)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if cursor is not None:
            created_at, task_id = decode_cursor(cursor)
            args += [created_at, task_id]
            where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        sql = (
            "SELECT id, created_at, state::text AS state FROM tasks"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}"
        )
        rows = await self._pool.fetch(sql, *args)
        page = rows[:limit]
        tasks = [orjson.loads(r["state"]) for r in page]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
        return tasks, next_cursor

    async def task_events(
        self, tenant: str, task_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The task's events after `after_version`, in version order, rejections included.

        A rejection carries the version the task had when it was refused, so it sorts
        after the event that made that version (by `occurred_at`). From the start
        (`after_version` 0) the list includes rejections at version 0: commands refused
        before the task existed, such as an invalid submit.
        """
        low = after_version if after_version > 0 else -1
        rows = await self._pool.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM task_events"
            " WHERE task_id = $1 AND tenant = $2 AND version > $3"
            " ORDER BY version, occurred_at, event_id LIMIT $4",
            task_id,
            tenant,
            low,
            limit,
        )
        return [_event(r) for r in rows]

    async def count_by_status(self, tenant: str) -> dict[str, int]:
        """Number of the tenant's tasks in each status (every status present, zero or not)."""
        rows = await self._pool.fetch(
            "SELECT status, count(*) AS n FROM tasks WHERE tenant = $1 GROUP BY status", tenant
        )
        counts = {s.value: 0 for s in Status}
        for r in rows:
            counts[r["status"]] = r["n"]
        return counts

    async def task_attempts(self, tenant: str, task_id: str) -> list[dict[str, Any]]:
        """The task's attempts in order (`Attempt.as_dict()` shape); empty if none or unknown."""
        rows = await self._pool.fetch(
            "SELECT number, worker, started_at, finished_at, outcome, error, traceback"
            " FROM task_attempts WHERE task_id = $1 AND tenant = $2 ORDER BY number",
            task_id,
            tenant,
        )
        return [_attempt(r) for r in rows]

    async def task_logs(
        self,
        tenant: str,
        task_id: str,
        *,
        attempt: int | None = None,
        after_attempt: int = 0,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Log lines in order: of `attempt` after `after_seq`, or of every attempt after
        (`after_attempt`, `after_seq`)."""
        if attempt is not None:
            where, args = "attempt = $3 AND seq > $4", [attempt, after_seq]
        else:
            where, args = "(attempt, seq) > ($3, $4)", [after_attempt, after_seq]
        rows = await self._pool.fetch(
            "SELECT attempt, seq, at, level, message FROM task_logs"
            f" WHERE task_id = $1 AND tenant = $2 AND {where}"
            " ORDER BY attempt, seq LIMIT $5",
            task_id,
            tenant,
            *args,
            limit,
        )
        return [
            {
                "attempt": r["attempt"],
                "seq": r["seq"],
                "at": r["at"].isoformat(),
                "level": r["level"],
                "message": r["message"],
            }
            for r in rows
        ]

    async def task_history(
        self, tenant: str, task_id: str, *, at: int | datetime | None = None
    ) -> list[dict[str, Any]]:
        """The task's archived events in order, up to version or time `at` (all if None)."""
        bound = ""
        args: list[Any] = [task_id, tenant]
        if isinstance(at, int):
            bound, args = " AND version <= $3", [*args, at]
        elif at is not None:
            bound, args = " AND occurred_at <= $3", [*args, at]
        rows = await self._pool.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM task_events WHERE task_id = $1 AND tenant = $2{bound}"
            " ORDER BY version, occurred_at, event_id",
            *args,
        )
        return [_event(r) for r in rows]


def _attempt(row: asyncpg.Record) -> dict[str, Any]:
    finished = row["finished_at"]
    return {
        "number": row["number"],
        "worker": row["worker"],
        "started_at": row["started_at"].isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "error": row["error"],
        "traceback": row["traceback"],
        "outcome": row["outcome"],
    }
