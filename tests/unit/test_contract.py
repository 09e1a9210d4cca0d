"""The producer contract: current on disk, a valid JSON Schema, true to the models, served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest

from api.testing import build_test_app
from taskstream.contract import CONTRACT_ID, contract, render
from taskstream.domain.commands import (
    CANCEL_TASK,
    SUBMIT_TASK,
    SUCCEED_ATTEMPT,
    CancelTask,
    SubmitTask,
)
from taskstream.producer import make_command

DOC = Path(__file__).resolve().parents[2] / "docs" / "contract" / "commands.v1.json"
VALIDATOR = jsonschema.Draft202012Validator(contract())


def test_committed_contract_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/contract/commands.v1.json is stale: run "
        "`python -m taskstream.contract > docs/contract/commands.v1.json`"
    )


def test_it_is_a_versioned_json_schema() -> None:
    doc = json.loads(DOC.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$id"] == CONTRACT_ID == "urn:taskstream:contract:commands:v1"


def record(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    return msgspec.to_builtins(make_command(type_, "t-1", payload, tenant="acme"))


def test_commands_the_scheduler_accepts_are_valid() -> None:
    submit = SubmitTask(type="x", priority=9, labels={"a": "b"}).model_dump(mode="json")
    VALIDATOR.validate(record(SUBMIT_TASK, submit))
    VALIDATOR.validate(record(SUBMIT_TASK, {"type": "x"}))  # defaults apply
    VALIDATOR.validate(record(CANCEL_TASK, CancelTask(reason="dup").model_dump()))


@pytest.mark.parametrize(
    "value",
    [
        record(SUBMIT_TASK, {"type": "x", "priority": 10}),
        record(SUBMIT_TASK, {"type": "x", "colour": "red"}),
        record(SUBMIT_TASK, {}),
        record(SUCCEED_ATTEMPT, {"attempt": 1, "worker": "w"}),  # internal: not a producer's
        {**record(SUBMIT_TASK, {"type": "x"}), "version": 3},
        {**record(SUBMIT_TASK, {"type": "x"}), "schema_version": 2},
        {k: v for k, v in record(SUBMIT_TASK, {"type": "x"}).items() if k != "event_id"},
    ],
)
def test_commands_the_scheduler_refuses_are_invalid(value: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(value)


async def test_served_without_authentication() -> None:
    transport = httpx.ASGITransport(app=build_test_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        resp = await client.get("/v1/contract/commands")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/schema+json"
    assert resp.json() == json.loads(DOC.read_text())
