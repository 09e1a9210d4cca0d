"""The queue aggregate: decide and evolve, given commands, then events; properties."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskstream.domain import queue_model as q
from taskstream.domain.envelope import Envelope
from taskstream.domain.queue import decide, evolve
from taskstream.domain.queue_model import QueueState
from tests.unit.scenario import T0

QID = q.queue_id("acme", "emails")


def cmd(type_: str, payload: dict[str, Any], cid: str, *, tenant: str = "acme") -> Envelope:
    return Envelope(
        event_id=cid, type=type_, task_id=QID, occurred_at=T0, tenant=tenant, payload=payload
    )


def run(commands: list[Envelope]) -> tuple[QueueState | None, list[Envelope]]:
    state: QueueState | None = None
    out: list[Envelope] = []
    for i, c in enumerate(commands):
        for event in decide(state, c, T0 + timedelta(seconds=i)):
            state = evolve(state, event)
            out.append(event)
    return state, out


def test_ids_name_tenant_and_queue_and_split_back() -> None:
    assert q.queue_id("acme", "emails") == "que_acme:emails"
    assert q.parse_queue_id("que_a:b:emails") == ("a:b", "emails")
    with pytest.raises(ValueError, match="queue must match"):
        q.queue_id("acme", "bad:name")
    with pytest.raises(ValueError, match="not a queue id"):
        q.parse_queue_id("que_nocolon")


def test_pause_then_resume_then_limit() -> None:
    state, events = run(
        [
            cmd(q.PAUSE_QUEUE, {"reason": "deploy"}, "c1"),
            cmd(q.RESUME_QUEUE, {}, "c2"),
            cmd(q.SET_QUEUE_LIMIT, {"limit": 3}, "c3"),
            cmd(q.SET_QUEUE_LIMIT, {"limit": None}, "c4"),
        ]
    )
    assert [e.type for e in events] == [
        q.QUEUE_PAUSED,
        q.QUEUE_RESUMED,
        q.QUEUE_LIMIT_SET,
        q.QUEUE_LIMIT_SET,
    ]
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert events[0].payload["reason"] == "deploy" and events[0].payload["queue"] == "emails"
    assert events[2].payload == {
        "queue": "emails",
        "reason": "",
        "at": (T0 + timedelta(seconds=2)).isoformat(),
        "limit": 3,
        "previous": None,
    }
    assert state is not None and not state.paused and state.limit is None
    assert state.settings == q.QueueSettings("acme", "emails", False, None, 4)


def test_commands_that_change_nothing_are_still_recorded() -> None:
    # So a replay of one after a crash is a duplicate, never an undo of a later command.
    state, events = run(
        [
            cmd(q.RESUME_QUEUE, {}, "c1"),  # a queue runs until paused
            cmd(q.PAUSE_QUEUE, {}, "c2"),
            cmd(q.PAUSE_QUEUE, {}, "c3"),
            cmd(q.SET_QUEUE_LIMIT, {"limit": None}, "c4"),
            cmd(q.PAUSE_QUEUE, {}, "c2"),  # a duplicate
        ]
    )
    assert [e.type for e in events] == [
        q.QUEUE_RESUMED,
        q.QUEUE_PAUSED,
        q.QUEUE_PAUSED,
        q.QUEUE_LIMIT_SET,
    ]
    assert state is not None and state.paused and state.limit is None
    assert decide(state, cmd(q.RESUME_QUEUE, {}, "c1"), T0) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"limit": 0}, "limit"), ({"limit": q.MAX_LIMIT + 1}, "limit"), ({}, "limit")],
)
def test_bad_limits_are_rejected_naming_the_field(payload: dict[str, Any], field: str) -> None:
    (event,) = decide(None, cmd(q.SET_QUEUE_LIMIT, payload, "c1"), T0)
    assert event.type == "command.rejected" and field in event.payload["reason"]
    assert evolve(None, event) is None


def test_another_tenants_queue_is_refused() -> None:
    (event,) = decide(None, cmd(q.PAUSE_QUEUE, {}, "c1", tenant="intruder"), T0)
    assert event.type == "command.rejected"
    assert "names tenant 'acme'" in event.payload["reason"]


def test_a_task_command_is_not_accepted_by_a_queue() -> None:
    (event,) = decide(None, cmd("task.cancel", {}, "c1"), T0)
    assert event.type == "command.rejected"


def test_evolve_refuses_a_gap_in_versions() -> None:
    state, (event,) = run([cmd(q.PAUSE_QUEUE, {}, "c1")])
    bad = msgspec.structs.replace(event, version=3)
    with pytest.raises(ValueError, match="version 3"):
        evolve(state, bad)


ACTIONS = st.lists(
    st.one_of(
        st.just((q.PAUSE_QUEUE, {})),
        st.just((q.RESUME_QUEUE, {})),
        st.builds(lambda n: (q.SET_QUEUE_LIMIT, {"limit": n}), st.none() | st.integers(1, 5)),
    ),
    max_size=30,
)


@given(ACTIONS, st.data())
def test_the_state_is_the_last_word_and_replays_add_nothing(
    actions: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    commands = [cmd(t, p, f"c{i}") for i, (t, p) in enumerate(actions)]
    state, events = run(commands)
    paused, limit = False, None
    for t, p in actions:
        if t == q.PAUSE_QUEUE:
            paused = True
        elif t == q.RESUME_QUEUE:
            paused = False
        else:
            limit = p["limit"]
    if state is None:
        assert actions == [] and events == []
        return
    assert (state.paused, state.limit) == (paused, limit)
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    # Any command replayed in any order afterwards decides nothing.
    for c in data.draw(st.permutations(commands)):
        assert decide(state, c, T0) == []
