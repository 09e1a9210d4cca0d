"""RFC 9457 problem details: the one shape of every error the API answers.

Validation errors carry `errors: [{field, message, limit}]`, the field as a path such as
`tasks[3].priority` (no `body.` prefix) and the limit from pydantic's error context, so a
client can show the user what to fix without parsing prose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:taskstream:problem:"

# pydantic error context keys that state the limit a value broke.
_LIMIT_KEYS = ("le", "ge", "lt", "gt", "max_length", "min_length", "pattern", "multiple_of")
_MESSAGES = {
    "less_than_equal": "must be ≤ {le}",
    "greater_than_equal": "must be ≥ {ge}",
    "less_than": "must be < {lt}",
    "greater_than": "must be > {gt}",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} items",
    "string_pattern_mismatch": "must match {pattern}",
    "extra_forbidden": "unknown field",
    "missing": "required",
    "timezone_aware": "must include a UTC offset (e.g. 2026-01-01T12:00:00Z)",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
}


class FieldError(BaseModel):
    """One invalid input: where it is, what is wrong, and the limit it broke."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(examples=["priority"])
    message: str = Field(examples=["must be ≤ 9"])
    limit: int | float | str | None = Field(None, examples=[9])


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": f"{TYPE_PREFIX}validation",
                    "title": "Invalid request",
                    "status": 422,
                    "detail": "1 field is invalid",
                    "instance": "/v1/tasks",
                    "errors": [{"field": "priority", "message": "must be ≤ 9", "limit": 9}],
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extensions = extensions


def invalid(*errors: FieldError) -> ProblemError:
    """A 422 naming each invalid field."""
    count = len(errors)
    detail = f"{count} field{'s are' if count != 1 else ' is'} invalid: " + "; ".join(
        f"{e.field} {e.message}" for e in errors
    )
    return ProblemError(422, detail, slug="validation", title="Invalid request", errors=errors)


def render(exc: ProblemError, path: str) -> JSONResponse:
    """The response for one problem met at `path`."""
    doc: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{exc.slug}" if exc.slug else "about:blank",
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "instance": path,
    }
    if exc.errors:
        doc["errors"] = [e.model_dump(exclude_none=True) for e in exc.errors]
    doc.update(exc.extensions)
    return JSONResponse(doc, status_code=exc.status, headers=exc.headers, media_type=PROBLEM_JSON)


def problem_response(request: Request, exc: ProblemError) -> JSONResponse:
    """The response for one problem raised while serving `request`."""
    return render(exc, request.url.path)


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic errors as `FieldError`s: dotted field path, short message, the limit."""
    out = []
    for err in raw:
        loc: list[str | int] = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        ctx = err.get("ctx") or {}
        template = _MESSAGES.get(str(err.get("type")))
        try:
            message = template.format(**ctx) if template else str(err.get("msg", "invalid"))
        except (KeyError, IndexError):
            message = str(err.get("msg", "invalid"))
        limit = next((ctx[k] for k in _LIMIT_KEYS if k in ctx), None)
        if limit is not None and not isinstance(limit, int | float | str):
            limit = str(limit)
        out.append(FieldError(field=field_path(loc) or "body", message=message, limit=limit))
    return out


def field_path(loc: Iterable[str | int]) -> str:
    """A location as a field path: `tasks[3].priority`, `labels.team`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem answers."""
    return {
        s: {
            "model": Problem,
            "description": HTTPStatus(s).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(request, invalid(*field_errors(exc.errors())))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400 and "parsing the body" in detail:  # FastAPI: not JSON, not UTF-8
        return problem_response(request, _malformed_body())
    problem = ProblemError(exc.status_code, detail, headers=exc.headers)
    return problem_response(request, problem)


def _malformed_body() -> ProblemError:
    return ProblemError(
        400,
        "the request body is not JSON in UTF-8; nothing was written",
        slug="malformed-body",
        errors=[FieldError(field="body", message="must be JSON in UTF-8")],
    )


def _problem_only(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are documented as problem+json alone (FastAPI adds application/json)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and PROBLEM_JSON in content:
                    content.pop("application/json", None)
    return schema


def install(app: FastAPI) -> None:
    """Answer every handled error of `app` as problem+json, and document it so."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from api.openapi_doc import complete

            app.openapi_schema = complete(_problem_only(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
