"""`/v1/search`: full-text search over the caller's tasks and log lines."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import AdaptersDep, ReaderDep, SettingsDep
from api.paging import page
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.schemas_search import SearchPageOut
from projections.search.backend import SearchQuery, SearchUnavailable
from projections.search.es_query import UnsupportedFilter
from taskstream.domain.state import Status

router = APIRouter(
    prefix="/v1/search", tags=["search"], responses=problem_responses(401, 403, 422, 500, 503)
)

_Q_EXAMPLES = {
    "words": {"summary": "Every word must match", "value": "mailbox unavailable"},
    "phrase": {"summary": "A phrase, excluding a word", "value": '"connection reset" -retry'},
    "or": {"summary": "Either word", "value": "timeout or refused"},
}


@router.get("", response_model=SearchPageOut)
async def search(
    principal: ReaderDep,
    settings: SettingsDep,
    adapters: AdaptersDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            description='Words to find (all of them); `"a phrase"`, `or`, `-word` '
            "(Postgres) or `|`, `-word` (Elasticsearch). Longest: `TASKSTREAM_SEARCH_Q_MAX_CHARS`.",
            openapi_examples=_Q_EXAMPLES,
        ),
    ],
    kind: Annotated[
        Literal["tasks", "logs"],
        Query(description="Search tasks (type, labels, payload, errors) or log lines."),
    ] = "tasks",
    status: Annotated[Status | None, Query(description="Only tasks in this status.")] = None,
    queue: Annotated[str | None, Query(max_length=64, description="Only this queue.")] = None,
    type: Annotated[str | None, Query(max_length=200, description="Only this task type.")] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Created (tasks) or logged (lines) at or after this time."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Created or logged before this time.")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`.")] = None,
) -> dict[str, Any]:
    """Find the caller's tasks or log lines by text, best match first, with cursor pagination."""
    if len(q) > settings.search_q_max_chars:
        cap = settings.search_q_max_chars
        raise invalid(FieldError(field="q", message=f"must be at most {cap} characters", limit=cap))
    if not q.strip():
        raise invalid(FieldError(field="q", message="must contain a word", limit=None))
    for name, value in (("q", q), ("queue", queue), ("type", type)):
        if value is not None and "\x00" in value:
            raise invalid(FieldError(field=name, message="must not contain U+0000", limit=None))
    if since is not None and until is not None and until <= since:
        raise invalid(FieldError(field="until", message="must be after `since`", limit=None))
    backend = adapters.search
    if backend is None:
        raise ProblemError(503, "search is not configured on this API", slug="search-unavailable")
    backend_name = backend.name

    async def fetch(size: int) -> tuple[list[dict[str, Any]], str | None]:
        query = SearchQuery(
            q=q,
            tenant=principal.tenant,
            kind=kind,
            status=status.value if status else None,
            queue=queue,
            type=type,
            since=since,
            until=until,
            limit=size,
            cursor=cursor,
        )
        try:
            result = await backend.search(query)
        except UnsupportedFilter as exc:
            raise invalid(FieldError(field=exc.field, message=str(exc), limit=None)) from exc
        except SearchUnavailable as exc:
            raise ProblemError(503, str(exc), slug="search-unavailable") from exc
        return [h.as_dict() for h in result.hits], result.next_cursor

    out = await page(settings, limit, fetch)
    out["backend"] = backend_name
    return out
