"""The `@task` registry: registration, signatures, defaults, and the handler's context."""

from __future__ import annotations

from typing import Any

import pytest

from taskstream.registry import (
    NonRetryableError,
    RegistrationError,
    Registry,
    TaskContext,
    default_registry,
    missing_handler_message,
    task,
)


def test_decorator_registers_and_returns_the_function_unchanged() -> None:
    registry = Registry()

    @registry.task("emails.send", max_attempts=5, timeout_seconds=30, queue="emails")
    def send(payload: Any, ctx: TaskContext) -> str:
        return "sent"

    spec = registry.get("emails.send")
    assert spec is not None
    assert spec.handler is send
    assert (spec.max_attempts, spec.timeout_seconds, spec.queue) == (5, 30, "emails")
    assert send({}, TaskContext(task_id="t", attempt=1)) == "sent"
    assert "emails.send" in registry
    assert registry.names() == ["emails.send"]


def test_module_level_task_uses_the_default_registry() -> None:
    @task("tests.registry.default")
    async def handler(payload: Any) -> None:
        return None

    spec = default_registry.get("tests.registry.default")
    assert spec is not None
    assert spec.handler is handler


def test_sync_and_async_handlers_are_told_apart() -> None:
    registry = Registry()

    async def coro(payload: Any) -> None:
        return None

    class AsyncCallable:
        async def __call__(self, payload: Any, ctx: TaskContext) -> None:
            return None

    assert registry.register("a", coro).is_async
    assert not registry.register("b", lambda payload: payload).is_async
    spec = registry.register("c", AsyncCallable())
    assert spec.is_async
    assert spec.takes_context


def test_context_is_passed_only_to_handlers_that_declare_it() -> None:
    registry = Registry()
    seen: list[Any] = []
    ctx = TaskContext(task_id="t1", attempt=2)

    one = registry.register("one", lambda payload: seen.append(("one", payload)))
    two = registry.register("two", lambda payload, ctx: seen.append(("two", ctx.attempt)))
    assert not one.takes_context
    assert two.takes_context
    one.call("p", ctx)
    two.call("p", ctx)
    assert seen == [("one", "p"), ("two", 2)]


def test_optional_extra_parameters_do_not_count() -> None:
    def handler(payload: Any, ctx: TaskContext, *, verbose: bool = False) -> None:
        return None

    assert Registry().register("x", handler).takes_context


@pytest.mark.parametrize(
    "handler",
    [lambda: None, lambda a, b, c: None],
    ids=["no-arguments", "three-arguments"],
)
def test_a_handler_with_another_signature_is_refused(handler: Any) -> None:
    with pytest.raises(RegistrationError, match=r"\(payload\) or \(payload, ctx\)"):
        Registry().register("bad", handler)


def test_registering_a_second_handler_under_a_name_raises() -> None:
    registry = Registry()

    def first(payload: Any) -> None:
        return None

    def second(payload: Any) -> None:
        return None

    registry.register("dup", first)
    registry.register("dup", first)  # the same handler again (a re-import) is fine
    with pytest.raises(RegistrationError, match="already registered"):
        registry.register("dup", second)


def test_update_merges_and_refuses_conflicts() -> None:
    a, b = Registry(), Registry()
    a.register("x", lambda payload: 1)
    b.register("y", lambda payload: 2)
    a.update(b)
    assert a.names() == ["x", "y"]
    c = Registry()
    c.register("x", lambda payload: 3)
    with pytest.raises(RegistrationError, match="registered twice"):
        a.update(c)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("", {}, "1 to 200 characters"),
        (" padded ", {}, "1 to 200 characters"),
        ("x" * 201, {}, "1 to 200 characters"),
        ("t", {"max_attempts": 0}, "max_attempts must be 1..100"),
        ("t", {"timeout_seconds": 0}, "timeout_seconds must be > 0"),
        ("t", {"queue": "no spaces"}, "queue must match"),
        ("t", {"priority": 10}, "priority must be 0..9"),
        ("t", {"backoff_base_seconds": -1}, "backoff_base_seconds must be"),
        ("t", {"backoff_max_seconds": -1}, "backoff_max_seconds must be"),
    ],
)
def test_invalid_names_and_defaults_are_refused(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        Registry().register(name, lambda payload: None, **options)


def test_a_non_callable_is_refused() -> None:
    with pytest.raises(RegistrationError, match="not callable"):
        Registry().register("x", "nope")  # type: ignore[arg-type]


def test_context_idempotency_key_log_and_heartbeat() -> None:
    lines: list[tuple[str, str]] = []
    beats: list[int] = []
    ctx = TaskContext(
        task_id="task-1",
        attempt=3,
        tenant="acme",
        queue="emails",
        _emit=lambda level, message: lines.append((level, message)),
        _beat=lambda: beats.append(1),
    )
    assert ctx.idempotency_key == "task-1:3"
    ctx.log("hello")
    ctx.log("careful", level="WARNING")
    ctx.heartbeat()
    assert lines == [("info", "hello"), ("warning", "careful")]
    assert beats == [1]
    with pytest.raises(ValueError, match="log level must be one of"):
        ctx.log("x", level="loud")


def test_a_context_built_by_hand_discards_its_log() -> None:
    ctx = TaskContext(task_id="t", attempt=1)
    ctx.log("goes nowhere")
    ctx.heartbeat()


def test_non_retryable_error_is_a_taskstream_error() -> None:
    from taskstream.domain.errors import TaskstreamError

    assert issubclass(NonRetryableError, TaskstreamError)


def test_missing_handler_message_names_the_type_the_queues_and_the_fix() -> None:
    message = missing_handler_message("reports.build", ["default", "emails"])
    assert message == (
        "no handler registered for type reports.build on this worker (queues default, emails); "
        "register it with @task or start the worker with --tasks MODULE"
    )
