"""The log audit finds commands without an effect, and finds none on a healthy stack."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from taskstream.audit import audit
from taskstream.codec import encode
from taskstream.domain.envelope import Envelope
from taskstream.producer import make_command
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics
from tests.integration.helpers import api, submit_many, wait_terminal

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def test_a_command_without_an_effect_is_reported_lost(stack: dict[str, Any]) -> None:
    # A private set of topics that no scheduler reads: one command gets a hand-made effect.
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"], topic_prefix=f"audit-{uuid.uuid4().hex[:6]}"
    )
    await ensure_topics(settings, base_topic_names(settings))
    answered = make_command("task.submit", "t-answered", {"type": "demo.echo"})
    lost = make_command("task.cancel", "t-lost", {})
    effect = Envelope(
        event_id="e1",
        type="task.submitted",
        task_id="t-answered",
        version=1,
        occurred_at=answered.occurred_at,
        causation_id=answered.event_id,
        payload={},
    )
    old = int((time.time() - 60) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=stack["kafka_bootstrap"])
    await producer.start()
    try:
        for cmd in (answered, lost):
            key = cmd.task_id.encode()
            await producer.send_and_wait(
                settings.topic("commands"), encode(cmd), key=key, timestamp_ms=old
            )
        await producer.send_and_wait(settings.topic("events"), encode(effect), key=b"t-answered")
    finally:
        await producer.stop()
    report = await audit(settings, settle_seconds=10)
    assert report.commands == 2 and report.with_effect == 1
    assert [m.command_id for m in report.lost] == [lost.event_id]
    assert not report.ok


async def test_a_busy_stack_loses_no_command(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        ids = await submit_many(client, [{"type": "demo.echo"} for _ in range(200)])
        await wait_terminal(stack["postgres_dsn"], ids, timeout=120)
    env = {
        **os.environ,
        "TASKSTREAM_KAFKA_BOOTSTRAP": stack["kafka_bootstrap"],
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "taskstream", "audit", "--settle", "20", "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
    report = json.loads(stdout)
    assert proc.returncode == 0, report["lost"][:5]
    assert report["ok"] and report["with_effect"] >= 200
