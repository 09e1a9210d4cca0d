"""Page size and cursor checks every list endpoint shares, and one page of tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from api.ports import TaskReader
from api.problems import FieldError, invalid
from taskstream.settings import Settings

# Versions, attempts and sequence numbers are Postgres integers: larger ones cannot exist.
INT32_MAX = 2**31 - 1

Fetch = Callable[[int], Awaitable[tuple[list[dict[str, Any]], str | None]]]


async def page(settings: Settings, limit: int | None, fetch: Fetch) -> dict[str, Any]:
    """`{"items", "next_cursor"}` from `fetch(size)`; 422 naming `limit` or `cursor` when
    the size is over the maximum or the read side refuses the cursor (`ValueError`)."""
    size = settings.page_size_default if limit is None else limit
    if size > settings.page_size_max:
        cap = settings.page_size_max
        raise invalid(FieldError(field="limit", message=f"must be ≤ {cap}", limit=cap))
    try:
        items, next_cursor = await fetch(size)
    except ValueError as exc:
        raise invalid(
            FieldError(field="cursor", message="is not a cursor this API issued; start over")
        ) from exc
    return {"items": items, "next_cursor": next_cursor}


async def task_page(
    read_model: TaskReader,
    settings: Settings,
    tenant: str,
    *,
    status: str | None,
    queue: str | None,
    type: str | None,
    limit: int | None,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of a tenant's tasks, filtered."""

    async def fetch(size: int) -> tuple[list[dict[str, Any]], str | None]:
        return await read_model.list_tasks(
            tenant, status=status, queue=queue, type=type, limit=size, cursor=cursor
        )

    return await page(settings, limit, fetch)
