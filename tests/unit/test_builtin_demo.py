"""The demo task types, and the set of built-in types every worker has."""

from __future__ import annotations

from typing import Any

import pytest

from taskstream.builtin import builtin_registry, demo
from taskstream.registry import NonRetryableError, TaskContext
from taskstream.settings import Settings


def _ctx(attempt: int = 1, lines: list[tuple[str, str]] | None = None) -> TaskContext:
    sink = lines if lines is not None else []
    return TaskContext(
        task_id="task-1", attempt=attempt, _emit=lambda lv, msg: sink.append((lv, msg))
    )


def test_builtin_registry_has_the_demo_types_and_http() -> None:
    registry = builtin_registry(Settings())
    assert registry.names() == ["demo.echo", "demo.fail", "demo.sleep", "http"]
    sleep = registry.get("demo.sleep")
    http = registry.get("http")
    assert sleep is not None
    assert sleep.is_async
    assert http is not None
    assert http.is_async


@pytest.mark.parametrize("payload", [{"a": [1, 2]}, None, "text", 3])
def test_echo_returns_its_payload(payload: Any) -> None:
    assert demo.echo(payload) == payload


async def test_sleep_sleeps_and_says_so() -> None:
    lines: list[tuple[str, str]] = []
    assert await demo.sleep({"seconds": 0.01}, _ctx(lines=lines)) == {"slept": 0.01}
    assert lines == [("info", "sleeping 0.01s"), ("info", "slept 0.01s")]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"seconds": "soon"}, "payload.seconds must be a number"),
        ({"seconds": True}, "payload.seconds must be a number"),
        ({"seconds": -1}, "payload.seconds must be 0.."),
        ([1], "payload must be an object"),
    ],
)
async def test_sleep_refuses_bad_payloads_for_good(payload: Any, message: str) -> None:
    with pytest.raises(NonRetryableError, match=message):
        await demo.sleep(payload, _ctx())


def test_fail_fails_the_first_n_attempts_then_succeeds() -> None:
    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match=f"demo failure {attempt} of 2"):
            demo.fail({"failures": 2}, _ctx(attempt))
    assert demo.fail({"failures": 2}, _ctx(3)) == {"attempt": 3}


def test_fail_defaults_to_one_failure_and_failures_are_retryable() -> None:
    with pytest.raises(RuntimeError) as info:
        demo.fail(None, _ctx(1))
    assert not isinstance(info.value, NonRetryableError)
    assert demo.fail({}, _ctx(2)) == {"attempt": 2}
    assert demo.fail({"failures": 0}, _ctx(1)) == {"attempt": 1}
