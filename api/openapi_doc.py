"""Finishing touches on the OpenAPI document: problem answers and examples everywhere.

Applied once when the document is generated (`api.problems.install`), so a route added
anywhere gets them without repeating itself: an authenticated operation documents 401,
403, 429, 500 and 503; one with a body documents 400 (not JSON) and 413; every problem
answer carries an example of its status; models without an example of their own get one
composed from the examples of the models they hold.
"""

from __future__ import annotations

import copy
from typing import Any

PROBLEM_JSON = "application/problem+json"
_URN = "urn:taskstream:problem:"
_AUTHENTICATED = (401, 403, 429, 500, 503)
_TIME = "2026-01-01T12:00:31.204000+00:00"

PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"type": f"{_URN}malformed-body", "title": "Bad Request", "status": 400,
          "detail": "the request body is not JSON in UTF-8; nothing was written",
          "instance": "/v1/tasks",
          "errors": [{"field": "body", "message": "must be JSON in UTF-8"}]},
    401: {"type": f"{_URN}unauthorized", "title": "Unauthorized", "status": 401,
          "detail": "the API key is not valid", "instance": "/v1/tasks"},
    403: {"type": f"{_URN}forbidden", "title": "Forbidden", "status": 403,
          "detail": "the API key lacks the scope 'tasks:write'", "instance": "/v1/tasks",
          "scope": "tasks:write"},
    404: {"type": f"{_URN}task-not-found", "title": "Task not found", "status": 404,
          "detail": "no task 3b0b6a52 in tenant acme", "instance": "/v1/tasks/3b0b6a52"},
    413: {"type": f"{_URN}body-too-large", "title": "Request body too large", "status": 413,
          "detail": "the request body is larger than 2097152 bytes; nothing was written",
          "instance": "/v1/tasks",
          "errors": [{"field": "body", "message": "must be at most 2097152 bytes",
                      "limit": 2097152}]},
    422: {"type": f"{_URN}validation", "title": "Invalid request", "status": 422,
          "detail": "1 field is invalid: priority must be ≤ 9", "instance": "/v1/tasks",
          "errors": [{"field": "priority", "message": "must be ≤ 9", "limit": 9}]},
    429: {"type": f"{_URN}rate-limited", "title": "Too many requests", "status": 429,
          "detail": "the API key k3v9q2m8x1c4b7n0 is over its request rate (burst 1000); "
          "retry after 1 s", "instance": "/v1/tasks", "limit": 1000},
    500: {"type": f"{_URN}internal", "title": "Internal Server Error", "status": 500,
          "detail": "an internal error occurred; it was logged as 9f1c", "instance": "/v1/tasks",
          "error_id": "9f1c"},
    503: {"type": f"{_URN}command-log-unavailable", "title": "Command log unavailable",
          "status": 503, "detail": "the command log is unavailable; nothing was written, retry",
          "instance": "/v1/tasks"},
}  # fmt: skip

# Examples of models that hold no example of their own and are not a wrapper of others.
_LEAF_EXAMPLES: dict[str, dict[str, Any]] = {
    "AttemptOut": {"number": 1, "worker": "worker-1:4242",
                   "started_at": "2026-01-01T12:00:30.101000+00:00", "finished_at": _TIME,
                   "error": None, "traceback": None, "outcome": "succeeded"},
    "LogLineOut": {"attempt": 1, "seq": 1, "at": _TIME, "level": "info",
                   "message": "sending welcome mail"},
    "ScheduleOut": {"id": "sch_3f1c0e8e2d4b4f0c9a7e", "tenant": "acme", "cron": "0 9 * * 1-5",
                    "timezone": "Europe/Berlin", "misfire": "fire_once", "jitter_seconds": 30.0,
                    "template": {"type": "reports.daily", "queue": "reports"}, "paused": False,
                    "deleted": False, "created_at": _TIME, "updated_at": _TIME, "version": 3,
                    "next_due_at": "2026-01-02T08:00:00+00:00",
                    "last_due_at": "2026-01-01T08:00:00+00:00", "last_fired_at": _TIME,
                    "last_task_id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11", "fired_count": 1,
                    "skipped_count": 0},
    "Fire": {"due_at": "2026-01-01T08:00:00+00:00", "fired_at": "2026-01-01T08:00:12+00:00",
             "task_id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11", "missed": 0},
    "RedriveOne": {"reason": "the mail server is back"},
    "RedriveAccepted": {"status": "accepted", "ids": ["3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11"],
                        "not_found": [], "unwritten": [], "more": False},
    "Health": {"status": "ok"},
    "Readiness": {"status": "ready", "checks": {"postgres": "ok", "broker": "ok"}},
}  # fmt: skip

_LEAF_EXAMPLES["ScheduleDetail"] = {
    **_LEAF_EXAMPLES["ScheduleOut"],
    "recent_fires": [_LEAF_EXAMPLES["Fire"]],
}

_COUNTS = {"pending": 12, "scheduled": 3, "running": 4, "dead": 1}
_DURATIONS = {"count": 40, "avg": 1.8, "p50": 1.41}
_WINDOW = {"submitted": 42, "started": 44, "succeeded": 40, "failed": 4, "retried": 3,
           "dead_lettered": 1, "cancelled": 0, "redriven": 0, "throughput_per_minute": 8.2,
           "success_rate": 0.91, "failure_rate": 0.09, "run_seconds": _DURATIONS,
           "wait_seconds": {"count": 44, "avg": 0.12, "p50": 0.09}}  # fmt: skip
_QUEUE = {"queue": "emails", "paused": False, "concurrency_limit": 10, "counts": _COUNTS,
          "by_priority": [{"priority": 9, **_COUNTS}],
          "links": {"stats": "/v1/queues/emails/stats"}}  # fmt: skip
_LEAF_EXAMPLES["QueueList"] = {"queues": [_QUEUE], "counts_source": "redis"}
_LEAF_EXAMPLES["QueueDetail"] = {**_QUEUE, "counts_source": "redis"}
_LEAF_EXAMPLES["QueueStats"] = {
    "queue": "emails", "since": "2026-01-01T11:00:00+00:00", "until": _TIME, "bucket": "5m",
    "bucket_seconds": 300, "totals": _WINDOW,
    "buckets": [{**_WINDOW, "start": "2026-01-01T11:55:00+00:00"}],
}  # fmt: skip
_LEAF_EXAMPLES["WorkerList"] = {
    "workers": [{"worker": "host-1:4242:9f3a1c", "queues": ["default", "emails"],
                 "capacity": 32, "in_flight": 1, "status": "up", "host": "host-1", "pid": 4242,
                 "started_at": "2026-01-01T08:00:00+00:00", "last_heartbeat": _TIME,
                 "attempts": [{"task_id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11", "attempt": 1,
                               "started_at": "2026-01-01T12:00:30.101000+00:00"}],
                 "attempts_reported": True}],
    "heartbeat_timeout_seconds": 16.0,
}  # fmt: skip

_TEXT_EXAMPLES: dict[str, Any] = {
    "text/event-stream": 'id: ev1.AAAB\nevent: event\ndata: {"cursor": "ev1.AAAB", '
    '"event": {"type": "task.succeeded", "task_id": "3b0b6a52", "version": 5}}\n\n',
    "application/schema+json": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Taskstream commands",
        "oneOf": [{"$ref": "#/$defs/task.submit"}],
    },
    "text/plain": "# TYPE taskstream_api_requests_total counter\n"
    'taskstream_api_requests_total{method="GET",route="/v1/tasks",status="200"} 42.0\n',
}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with problem answers and examples on every operation and model."""
    schemas = doc.get("components", {}).get("schemas", {})
    for name, example in _LEAF_EXAMPLES.items():
        if name in schemas and not schemas[name].get("examples"):
            schemas[name]["examples"] = [example]
    for name in list(schemas):
        _example_of(schemas, name, set())
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            _operation(operation, schemas)
    return doc


def _operation(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    wanted = list(_AUTHENTICATED) if op.get("security") else []
    if "requestBody" in op:
        wanted += [400, 413]
        for media in op["requestBody"].get("content", {}).values():
            _media_example(media, schemas)
    for status in wanted:
        responses.setdefault(
            str(status),
            {"description": _PHRASES.get(status, "Error"),
             "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        )  # fmt: skip
    for status, response in responses.items():
        content = response.get("content", {})
        # FastAPI adds an untyped application/json beside a route's own media type.
        untyped = content.get("application/json", {}).get("schema", {}).keys() <= {"title"}
        if len(content) > 1 and "application/json" in content and untyped:
            del content["application/json"]
        for media_type, media in content.items():
            if media_type == PROBLEM_JSON and status.isdigit():
                example = PROBLEM_EXAMPLES.get(int(status))
                if example is not None:
                    media.setdefault("example", example)
            elif media_type.split(";")[0] in _TEXT_EXAMPLES:
                media.setdefault("example", _TEXT_EXAMPLES[media_type.split(";")[0]])
            else:
                _media_example(media, schemas)


_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _media_example(media: dict[str, Any], schemas: dict[str, Any]) -> None:
    """An inline schema (an optional body: anyOf [$ref, null]) takes its model's example."""
    schema = media.get("schema") or {}
    if "$ref" in schema or media.get("example") is not None or media.get("examples"):
        return
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            found = _example_of(schemas, option["$ref"].rsplit("/", 1)[-1], set())
            if found is not None:
                media["example"] = found
                return


def _example_of(schemas: dict[str, Any], name: str, seen: set[str]) -> Any:
    """The model's example, composing one from its fields' examples when it has none."""
    schema = schemas.get(name)
    if schema is None or name in seen:
        return None
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    if schema.get("type") != "object":
        return None
    seen = seen | {name}
    example: dict[str, Any] = {}
    for field, spec in schema.get("properties", {}).items():
        value = _value(schemas, spec, seen)
        if value is _MISSING:
            if field in schema.get("required", []):
                return None  # cannot compose a valid one
            continue
        example[field] = value
    schema["examples"] = [example]
    return copy.deepcopy(example)


_MISSING = object()


def _value(schemas: dict[str, Any], spec: dict[str, Any], seen: set[str]) -> Any:
    if "$ref" in spec:
        found = _example_of(schemas, spec["$ref"].rsplit("/", 1)[-1], seen)
        return _MISSING if found is None else found
    if spec.get("examples"):
        return spec["examples"][0]
    if "default" in spec:
        return spec["default"]
    if spec.get("type") == "array" and "items" in spec:
        item = _value(schemas, spec["items"], seen)
        return _MISSING if item is _MISSING else [item]
    if "const" in spec:
        return spec["const"]
    return _MISSING
