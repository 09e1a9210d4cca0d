"""`log export` then `log import` into a fresh broker reproduces the same records.

The source is the stack's broker (own topics); the target is a second, fresh Tansu
started here. Exporting the target again must give the very same file: same topics,
partitions, offsets, keys, values (byte for byte), headers and timestamps.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from projections.replay.logio import NotEmpty, export_topics, import_file
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.stack import health
from taskstream.stack.infra import broker_spec, kafka_bootstrap
from taskstream.stack.ports import free_port
from taskstream.topics import base_topic_names, ensure_topics

pytestmark = pytest.mark.integration


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
async def fresh_broker() -> AsyncIterator[str]:
    """A second embedded broker, empty; stopped by PID afterwards."""
    port = free_port()
    spec = broker_spec(port, timeout=30)
    proc = spawn(spec.argv, spec.env)
    bootstrap = kafka_bootstrap(port)
    try:
        for _ in range(150):
            if await health.kafka_ready(bootstrap):
                break
            await asyncio.sleep(0.2)
        yield bootstrap
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def fill(settings: Settings) -> int:
    """Events (with an undecodable one and a record without value) and log lines."""
    producer = build_producer(settings)
    await producer.start()
    sent = 0
    try:
        futures = []
        for ev in stream(60, seed=5):
            futures.append(
                await producer.send(
                    settings.topic("events"),
                    encode(ev),
                    key=ev.task_id.encode(),
                    headers=[("trace", uuid.uuid4().bytes)],
                )
            )
        futures.append(await producer.send(settings.topic("events"), b"\xff\x00junk", key=b"x"))
        futures.append(await producer.send(settings.topic("events"), None, key=b"\xfe"))
        futures.append(await producer.send(settings.topic("events"), b'{"spaced": 1 }', key=None))
        for i in range(30):
            line = {
                "task_id": f"t{i % 7}",
                "tenant": "default",
                "attempt": 1,
                "seq": i + 1,
                "at": "2030-01-01T00:00:00+00:00",
                "level": "info",
                "message": f"line {i}",
            }
            futures.append(
                await producer.send(
                    settings.topic("logs"), orjson.dumps(line), key=f"t{i % 7}".encode()
                )
            )
        sent = len(await asyncio.gather(*futures))
    finally:
        await producer.stop()
    return sent


async def test_export_then_import_into_a_fresh_broker_reproduces_the_log(
    stack: dict[str, Any], fresh_broker: str, tmp_path: Path
) -> None:
    source = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        topic_prefix=f"logio{uuid.uuid4().hex[:8]}",
        partitions=3,
    )
    await ensure_topics(source, base_topic_names(source))
    sent = await fill(source)
    topics = [source.topic("events"), source.topic("logs")]
    exported = tmp_path / "export.jsonl"
    with exported.open("wb") as out:
        report = await export_topics(source, topics, out)
    assert sum(report.records.values()) == sent

    target = source.model_copy(update={"kafka_bootstrap": fresh_broker})
    imported = await import_file(target, exported, chunk=50)
    assert imported.moved == 0 and sum(imported.records.values()) == sent

    again = tmp_path / "again.jsonl"
    with again.open("wb") as out:
        await export_topics(target, topics, out)
    assert sorted(again.read_bytes().splitlines()) == sorted(exported.read_bytes().splitlines())
    lines = [orjson.loads(line) for line in exported.read_bytes().splitlines()]
    assert {d["value_encoding"] for d in lines} == {"json", "base64", "null"}
    assert all(d["headers"] for d in lines if d["value_encoding"] == "json" and
               d["topic"].endswith(".events"))  # fmt: skip

    # A second import would shift every offset: refused unless forced.
    with pytest.raises(NotEmpty, match="already holds"):
        await import_file(target, exported)
