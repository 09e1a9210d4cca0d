"""Submit defaults: explicit > task type > global, resolved in `decide` and recorded."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.scheduler.workers import WorkerDirectory
from streams.worker.heartbeat import WorkerIdentity, worker_record
from taskstream.domain.defaults import DEFAULTED, Defaults, GlobalDefaults, resolve
from taskstream.domain.machine import decide, evolve
from taskstream.registry import Registry
from taskstream.settings import Settings
from tests.unit.scenario import T0, command

GLOBAL = GlobalDefaults(queue="default", priority=5, max_attempts=3, timeout_seconds=300.0)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "queue": st.sampled_from(["emails", "reports", "a.b-c_d"]),
    "priority": st.integers(0, 9),
    "max_attempts": st.integers(1, 100),
    "timeout_seconds": st.floats(0.5, 7 * 86400),
    "backoff_base_seconds": st.floats(0, 86400),
    "backoff_max_seconds": st.floats(0, 7 * 86400),
}
BAD: dict[str, Any] = {
    "queue": "no spaces",
    "priority": 10,
    "max_attempts": 0,
    "timeout_seconds": -1,
    "backoff_base_seconds": -1,
    "backoff_max_seconds": True,
}


def _subset(valid: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={k: (v if valid else st.just(BAD[k])) for k, v in VALUES.items()}
    )


@given(_subset(), _subset(), _subset(valid=False))
def test_explicit_beats_type_beats_global_and_bad_type_values_are_ignored(
    explicit: dict[str, Any], announced: dict[str, Any], bad: dict[str, Any]
) -> None:
    # A bad announced value (an old or foreign worker) never reaches a task.
    type_defaults = {**bad, **announced}
    submitted = {"type": "t", "payload": None, **explicit}
    resolved, sources = resolve(submitted, "t", Defaults(GLOBAL, {"t": type_defaults}))
    for name in DEFAULTED:
        if name in explicit:
            assert resolved[name] == explicit[name] and name not in sources
        elif name in announced:
            assert resolved[name] == announced[name] and sources[name] == "type"
        else:
            assert resolved[name] == getattr(GLOBAL, name) and sources[name] == "global"
    assert resolved["type"] == "t" and resolved["payload"] is None


def test_decide_records_the_resolved_values_and_where_they_came_from() -> None:
    defaults = Defaults(GLOBAL, {"emails.send": {"queue": "emails", "max_attempts": 7}})
    cmd = command("task.submit", {"type": "emails.send", "priority": 8})
    (event,) = decide(None, cmd, T0, defaults=defaults)
    p = event.payload
    assert (p["queue"], p["priority"], p["max_attempts"], p["timeout_seconds"]) == (
        "emails",
        8,
        7,
        300.0,
    )
    assert p["defaults"] == {
        "queue": "type",
        "max_attempts": "type",
        "timeout_seconds": "global",
        "backoff_base_seconds": "global",
        "backoff_max_seconds": "global",
    }
    state = evolve(None, event)
    assert state is not None and state.queue == "emails" and state.max_attempts == 7
    # Replaying the event never resolves again: the type's defaults may have changed since.
    assert evolve(None, event) == state


def test_an_unknown_type_gets_the_global_defaults() -> None:
    (event,) = decide(None, command("task.submit", {"type": "x"}), T0)
    assert (event.payload["queue"], event.payload["priority"]) == ("default", 5)


def test_workers_announce_their_types_defaults_and_the_scheduler_keeps_them() -> None:
    registry = Registry()
    registry.register("a", lambda p: p, queue="qa", priority=8, backoff_base_seconds=0.5)
    registry.register("b", lambda p: p)
    me = WorkerIdentity(
        "w1",
        ("qa",),
        4,
        "host",
        1,
        T0,
        types={s.name: s.defaults() for s in registry if s.defaults()},
    )
    record = worker_record(me, 0, "up", T0)
    assert record["types"] == {"a": {"queue": "qa", "priority": 8, "backoff_base_seconds": 0.5}}
    directory = WorkerDirectory(Settings())
    directory.observe(record, T0.timestamp())
    directory.observe(
        {"worker": "w2", "queues": [], "concurrency": 1, "types": {"a": {"priority": 99}}},
        T0.timestamp(),
    )
    assert directory.type_defaults == {
        "a": {"queue": "qa", "priority": 8, "backoff_base_seconds": 0.5}
    }
