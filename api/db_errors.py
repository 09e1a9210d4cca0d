"""Input Postgres cannot store, answered as the client's mistake (422), never as a 500.

Postgres `text` and `jsonb` refuse the NUL character (U+0000); any string that reaches a
query (a filter, an id, a name) could carry one.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.problems import FieldError, invalid, problem_response


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    problem = invalid(
        FieldError(field="body", message="text must not contain the NUL character (U+0000)")
    )
    return problem_response(request, problem)


def install(app: FastAPI) -> None:
    """Answer Postgres' refusals of unstorable characters with a 422 problem."""
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, _unstorable)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, _unstorable)
