"""The producer contract on the live stack: a record published with plain aiokafka."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from taskstream import Client
from taskstream.settings import Settings
from tests.integration.helpers import api, eventually

pytestmark = pytest.mark.integration
CONTRACT = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "contract" / "commands.v1.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(CONTRACT)
TOPICS = Settings()
# What differs between two tasks that behaved the same.
VARYING = {"id", "created_at", "updated_at", "attempts"}


def submit_record(task_id: str, payload: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """A `task.submit` record as a Go or Java service would write it: plain JSON."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": "task.submit",
        "schema_version": 1,
        "task_id": task_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "tenant": "default",
        "payload": payload,
        **envelope,
    }


async def publish(bootstrap: str, key: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(TOPICS.topic("commands"), value, key=key.encode())
    finally:
        await producer.stop()


async def records_mentioning(bootstrap: str, topic: str, needle: str) -> list[dict[str, Any]]:
    """Records of `topic` whose value contains `needle`, read up to the fetch high watermark."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[dict[str, Any]] = []
        for _ in range(200):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found += [json.loads(r.value) for r in records if needle.encode() in r.value]
            positions = [(await consumer.position(tp), consumer.highwater(tp)) for tp in tps]
            if all(high is not None and pos >= high for pos, high in positions):
                return found
        raise AssertionError(f"did not reach the end of {topic}")
    finally:
        await consumer.stop()


async def test_a_published_record_behaves_like_a_rest_submit(stack: dict[str, Any]) -> None:
    task = {"type": "demo.echo", "payload": {"order": 42}, "priority": 7, "labels": {"k": "v"}}
    task_id = str(uuid.uuid4())
    value = submit_record(task_id, task, correlation_id="contract-1")
    VALIDATOR.validate(value)
    await publish(stack["kafka_bootstrap"], task_id, json.dumps(value).encode())
    async with api(stack) as http, Client.rest(stack["api_url"], stack["api_key"]) as client:
        resp = await http.post("/v1/tasks", json=task, headers={"X-Correlation-ID": "contract-1"})
        assert resp.status_code == 202, resp.text
        published = await client.wait(task_id, timeout=60)
        submitted = await client.wait(resp.json()["id"], timeout=60)
        events = (await http.get(f"/v1/tasks/{task_id}/events")).json()["items"]
    assert published["status"] == submitted["status"] == "succeeded"
    assert {k: v for k, v in published.items() if k not in VARYING} == {
        k: v for k, v in submitted.items() if k not in VARYING
    }
    outcomes = [[a["number"], a["outcome"]] for a in published["attempts"]]
    assert outcomes == [[a["number"], a["outcome"]] for a in submitted["attempts"]]
    assert events[0]["causation_id"] == value["event_id"]


async def test_an_invalid_record_is_rejected_naming_the_field(stack: dict[str, Any]) -> None:
    task_id = str(uuid.uuid4())
    value = submit_record(task_id, {"type": "demo.echo", "priority": 12})
    assert not VALIDATOR.is_valid(value)
    await publish(stack["kafka_bootstrap"], task_id, json.dumps(value).encode())
    async with api(stack) as http:

        async def rejection() -> dict[str, Any] | None:
            resp = await http.get(f"/v1/tasks/{task_id}/events")
            items: list[dict[str, Any]] = resp.json().get("items", []) if resp.is_success else []
            return next((e for e in items if e["type"] == "command.rejected"), None)

        event = await eventually(rejection, timeout=60)
        assert (await http.get(f"/v1/tasks/{task_id}")).status_code == 404
    assert event["version"] == 0
    assert event["payload"]["command_id"] == value["event_id"]
    assert "priority" in event["payload"]["reason"]


async def test_an_undecodable_record_goes_to_the_dead_letter_topic(stack: dict[str, Any]) -> None:
    marker = f"not-json-{uuid.uuid4().hex}"
    await publish(stack["kafka_bootstrap"], marker, marker.encode())

    async def dead_lettered() -> list[dict[str, Any]]:
        return await records_mentioning(
            stack["kafka_bootstrap"], TOPICS.topic("deadletter"), marker
        )

    (record,) = await eventually(dead_lettered, timeout=60, every=1.0)
    assert record["source_topic"] == TOPICS.topic("commands")
    assert record["value"] == marker
    assert "not JSON" in record["error"]
