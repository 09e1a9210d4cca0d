"""Typed dependencies: what a route may ask for, resolved from the app's adapters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import READ, WRITE, Principal
from api.metrics import ApiMetrics
from api.ports import Adapters, CommandSink, TaskReader
from api.problems import ProblemError
from taskstream.settings import Settings

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `Authorization: Bearer <key>`.",
)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> ApiMetrics:
    """The app's metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def get_adapters(request: Request) -> Adapters:
    """The app's adapters (available once the lifespan has built them)."""
    adapters: Adapters | None = getattr(request.app.state, "adapters", None)
    if adapters is None:
        raise ProblemError(503, "the API is still starting; retry", slug="starting")
    return adapters


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
AdaptersDep = Annotated[Adapters, Depends(get_adapters)]


def get_read_model(adapters: AdaptersDep) -> TaskReader:
    """The read model."""
    return adapters.read_model


def get_commands(adapters: AdaptersDep) -> CommandSink:
    """Where commands are appended."""
    return adapters.commands


def get_clock(adapters: AdaptersDep) -> Callable[[], datetime]:
    """The clock used at the edge (delays become `run_at`)."""
    return adapters.clock


ReadModelDep = Annotated[TaskReader, Depends(get_read_model)]
CommandsDep = Annotated[CommandSink, Depends(get_commands)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


def _unauthorized(detail: str, error: str | None = None) -> ProblemError:
    challenge = 'Bearer realm="taskstream"' + (f', error="{error}"' if error else "")
    return ProblemError(401, detail, slug="unauthorized", headers={"WWW-Authenticate": challenge})


async def get_principal(
    request: Request,
    adapters: AdaptersDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>`; 401 if missing or unknown."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("send an API key as `Authorization: Bearer <key>`")
    principal = await adapters.keys.lookup(credentials.credentials)
    if principal is None:
        log.info("unknown API key refused", extra={"path": request.url.path})
        raise _unauthorized("the API key is not valid", "invalid_token")
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def requires(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through principals holding `scope` (403 otherwise)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.can(scope):
            raise ProblemError(
                403, f"the API key lacks the scope {scope!r}", slug="forbidden", scope=scope
            )
        return principal

    return check


ReaderDep = Annotated[Principal, Depends(requires(READ))]
WriterDep = Annotated[Principal, Depends(requires(WRITE))]
