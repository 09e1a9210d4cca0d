"""The scheduler serves its Prometheus metrics when given a port."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.conftest import SCHEDULER_METRICS_PORT
from tests.integration.helpers import api, submit_many, wait_terminal


async def test_the_scheduler_serves_its_metrics(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        ids = await submit_many(client, [{"type": "demo.echo", "payload": {"n": 1}}])
    await wait_terminal(stack["postgres_dsn"], ids)
    async with httpx.AsyncClient(timeout=10) as scrape:
        body = (await scrape.get(f"http://127.0.0.1:{SCHEDULER_METRICS_PORT}/metrics")).text
    samples = dict(
        line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#")
    )
    assert float(samples["taskstream_scheduler_batch_seconds_count"]) >= 1
    assert float(samples['taskstream_scheduler_events_total{type="task.succeeded"}']) >= 1
    assert any(name.startswith("taskstream_gc_pause_seconds_count") for name in samples)
