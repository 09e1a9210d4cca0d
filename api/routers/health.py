"""Liveness, readiness and metrics: unauthenticated, for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import AdaptersDep, MetricsDep
from api.ports import Probe
from api.problems import ProblemError, problem_responses
from api.schemas import Health, Readiness

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health()


async def _run(probe: Probe) -> str:
    try:
        await asyncio.wait_for(probe.check(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer in {PROBE_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok"


@router.get("/readyz", response_model=Readiness, responses=problem_responses(503))
async def readyz(adapters: AdaptersDep) -> Readiness:
    """Readiness: Postgres answers and the producer reaches the broker."""
    outcomes = await asyncio.gather(*(_run(p) for p in adapters.probes))
    checks = {p.name: outcome for p, outcome in zip(adapters.probes, outcomes, strict=True)}
    failing = sorted(name for name, outcome in checks.items() if outcome != "ok")
    if failing:
        log.warning("not ready", extra={"checks": checks})
        raise ProblemError(
            503,
            f"not ready: {', '.join(failing)} failing",
            slug="not-ready",
            title="Not ready",
            headers={"Retry-After": "1"},
            checks=checks,
        )
    return Readiness(checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
async def metrics(collectors: MetricsDep) -> Response:
    """Prometheus metrics of this API process."""
    return Response(collectors.render(), media_type=CONTENT_TYPE_LATEST)
