"""One page of tasks from the read model, with the limit and cursor checks every list shares."""

from __future__ import annotations

from typing import Any

from api.ports import TaskReader
from api.problems import FieldError, invalid
from taskstream.settings import Settings


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
    """`{"items", "next_cursor"}`; 422 naming `limit` or `cursor` when they are out of bounds."""
    size = settings.page_size_default if limit is None else limit
    if size > settings.page_size_max:
        cap = settings.page_size_max
        raise invalid(FieldError(field="limit", message=f"must be ≤ {cap}", limit=cap))
    try:
        items, next_cursor = await read_model.list_tasks(
            tenant, status=status, queue=queue, type=type, limit=size, cursor=cursor
        )
    except ValueError as exc:
        raise invalid(
            FieldError(field="cursor", message="is not a cursor this API issued; start over")
        ) from exc
    return {"items": items, "next_cursor": next_cursor}
