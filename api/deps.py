"""Typed dependencies: what a route may ask for, resolved from the app's adapters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ADMIN, READ, WRITE, Principal
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
    response: Response,
    adapters: AdaptersDep,
    metrics: MetricsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>`; 401 if missing or unknown, 429 over
    the key's request rate."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("send an API key as `Authorization: Bearer <key>`")
    principal = await adapters.keys.lookup(credentials.credentials)
    if principal is None:
        log.info("unknown API key refused", extra={"path": request.url.path})
        raise _unauthorized("the API key is not valid", "invalid_token")
    request.state.principal = principal
    response.headers.update(await rate_limit(adapters, metrics, principal))
    return principal


async def rate_limit(
    adapters: Adapters, metrics: ApiMetrics, principal: Principal
) -> dict[str, str]:
    """The `RateLimit-*` headers of one request by `principal`; a 429 problem over the limit."""
    limiter = adapters.limiter
    if limiter is None or not limiter.enabled:
        return {}
    verdict = await limiter.check(principal.key_id)
    if verdict is None:
        metrics.rate_limit_unavailable.inc()
        return {}
    if not verdict.allowed:
        metrics.rate_limited.inc()
        retry = verdict.headers["Retry-After"]
        raise ProblemError(
            429,
            f"the API key {principal.key_id} is over its request rate "
            f"(burst {verdict.headers['RateLimit-Limit']}); retry after {retry} s",
            slug="rate-limited",
            title="Too many requests",
            headers=verdict.headers,
            limit=int(verdict.headers["RateLimit-Limit"]),
        )
    return verdict.headers


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


# One alias per scope: a route takes `principal: ReaderDep` (or WriterDep, AdminDep) and
# is authenticated, rate limited and scope checked; `principal.tenant` scopes its data.
ReaderDep = Annotated[Principal, Depends(requires(READ))]
WriterDep = Annotated[Principal, Depends(requires(WRITE))]
AdminDep = Annotated[Principal, Depends(requires(ADMIN))]
