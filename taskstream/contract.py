"""The producer contract: JSON Schema of the commands a service may publish itself.

`python -m taskstream.contract > docs/contract/commands.v1.json`. Generated from the
models the scheduler validates with (the envelope's msgspec struct and each command's
pydantic payload model), so the document cannot drift from what is enforced; a unit
test keeps the committed file current. Worker reports (`attempt.*`) are internal and
not part of it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Final, Literal

import msgspec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from taskstream.domain.commands import CANCEL_TASK, SUBMIT_TASK, CancelTask, SubmitTask
from taskstream.domain.envelope import Envelope

_VALIDATION: Final[Literal["validation"]] = "validation"
SCHEMA_VERSION: Final = 1
CONTRACT_ID: Final = f"urn:taskstream:contract:commands:v{SCHEMA_VERSION}"
# The public producer commands, each with its payload model and the name of its schema.
PRODUCER_COMMANDS: Final[dict[str, tuple[str, type[BaseModel]]]] = {
    SUBMIT_TASK: ("SubmitTaskCommand", SubmitTask),
    CANCEL_TASK: ("CancelTaskCommand", CancelTask),
}
# What the envelope's fields mean to a producer (the model says what they are).
_PRODUCER_NOTES: Final = {
    "event_id": "The command id. Unique per command: a record whose id the task has already "
    "seen is a duplicate and changes nothing, so a producer that retries sends the same id.",
    "task_id": "The task this command is about; also the record key (UTF-8). A submit "
    "names a new task id (a UUID is a good choice, at most 200 characters).",
    "occurred_at": "When the producer made the command: ISO 8601 with a UTC offset.",
    "tenant": "The tenant the task belongs to.",
    "correlation_id": "Optional: ties related work together; copied onto the task.",
    "causation_id": "Optional: the id of what caused this command.",
}


def _property(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    # As pydantic writes a property (the contract's first form): keys sorted, a title
    # made from the name, datetimes with their format.
    out = {**schema, "title": name.replace("_", " ").title()}
    if name == "occurred_at":
        out["format"] = "date-time"
    if name == "payload":
        out.pop("default", None)
    return dict(sorted(out.items()))


def _envelope_schema() -> dict[str, Any]:
    doc = msgspec.json.schema(Envelope)
    schema: dict[str, Any] = doc["$defs"][Envelope.__name__]
    props = {name: _property(name, p) for name, p in schema["properties"].items()}
    return {"properties": props, "required": list(schema["required"])}


def _command_schema(type_: str, payload_ref: str) -> dict[str, Any]:
    envelope = _envelope_schema()
    props: dict[str, Any] = envelope["properties"]
    for name, note in _PRODUCER_NOTES.items():
        props[name]["description"] = note
    props["type"] = {"const": type_, "description": "The command type."}
    props["schema_version"] = {
        "const": SCHEMA_VERSION,
        "default": SCHEMA_VERSION,
        "description": "Version of this contract.",
    }
    props["version"] = {"const": 0, "default": 0, "description": "Always 0 on a command."}
    props["payload"] = {"$ref": f"#/$defs/{payload_ref}"}
    required = [*envelope["required"], "payload"]
    return {
        "title": f"{type_} command",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": required,
    }


@cache
def contract() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record value on the commands topic."""
    models = [(model, _VALIDATION) for _, model in PRODUCER_COMMANDS.values()]
    _, payloads = models_json_schema(models, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = dict(payloads["$defs"])
    for type_, (name, model) in PRODUCER_COMMANDS.items():
        defs[name] = _command_schema(type_, model.__name__)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CONTRACT_ID,
        "title": f"Taskstream producer commands, v{SCHEMA_VERSION}",
        "description": "The value of one record a service publishes onto the commands topic "
        "(`<topic_prefix>.commands`, by default `taskstream.commands`), keyed by `task_id` "
        "in UTF-8. See docs/producers.md.",
        "x-taskstream-schema-version": SCHEMA_VERSION,
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name, _ in PRODUCER_COMMANDS.values()],
        "$defs": dict(sorted(defs.items())),
    }


def render() -> str:
    """The contract as the committed file holds it."""
    return json.dumps(contract(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
