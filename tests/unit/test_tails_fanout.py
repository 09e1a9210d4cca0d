"""Tail filters, the status mapping, the task-attribute LRU and the bounded fan-out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from api.tails.attrs import TaskAttrs
from api.tails.filters import FilterError, TailFilter
from api.tails.hub import Hub, Subscriber, TooSlow
from api.tails.records import TailRecord, message, parse_event, parse_log, status_after
from taskstream import codec
from taskstream.domain import events as ev
from taskstream.domain.envelope import Envelope

AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(
    type_: str, task_id: str = "t1", *, tenant: str = "default", offset: int = 0, **payload: Any
) -> TailRecord:
    env = Envelope(
        event_id=f"e{offset}",
        type=type_,
        task_id=task_id,
        version=offset + 1,
        occurred_at=AT,
        tenant=tenant,
        payload=payload,
    )
    return parse_event(0, offset, 0, codec.encode(env))


def submitted(task_id: str = "t1", **kw: Any) -> TailRecord:
    return event(ev.TASK_SUBMITTED, task_id, queue="q1", type="demo.echo", status="pending", **kw)


@pytest.mark.parametrize(
    ("type_", "payload", "status"),
    [
        (ev.TASK_SUBMITTED, {"status": "scheduled"}, "scheduled"),
        (ev.TASK_READY, {}, "pending"),
        (ev.ATTEMPT_STARTED, {}, "running"),
        (ev.ATTEMPT_FAILED, {}, "scheduled"),
        (ev.ATTEMPT_TIMED_OUT, {}, "scheduled"),
        (ev.TASK_SUCCEEDED, {}, "succeeded"),
        (ev.TASK_DEAD_LETTERED, {}, "dead"),
        (ev.TASK_CANCELLED, {}, "cancelled"),
        (ev.COMMAND_REJECTED, {}, None),
        ("task.something_new", {}, None),
    ],
)
def test_status_after_each_event_type(type_: str, payload: dict[str, Any], status: str) -> None:
    assert status_after(type_, payload) == status


def test_submitted_events_carry_queue_and_type() -> None:
    r = submitted()
    assert (r.queue, r.task_type, r.status, r.tenant) == ("q1", "demo.echo", "pending", "default")
    assert (event(ev.TASK_READY).queue, event(ev.TASK_READY).task_type) == (None, None)


def test_message_embeds_the_envelope_with_position_and_cursor() -> None:
    r = event(ev.TASK_READY, offset=7)
    doc = orjson.loads(message("events", r, "CUR"))
    assert doc["position"] == "0:7" and doc["cursor"] == "CUR"
    assert doc["event"]["type"] == ev.TASK_READY and doc["event"]["task_id"] == "t1"
    line = parse_log(2, 5, 0, codec.encode_dict({"task_id": "t9", "tenant": "acme", "seq": 1}))
    assert line.tenant == "acme"
    assert orjson.loads(message("logs", line, "C"))["log"]["seq"] == 1


def test_filters_match_record_then_task_attributes() -> None:
    flt = TailFilter("events", task_id="t1", status="running", queue="q1")
    assert flt.needs_task
    assert flt.matches_record(event(ev.ATTEMPT_STARTED))
    assert not flt.matches_record(event(ev.ATTEMPT_STARTED, "t2"))
    assert not flt.matches_record(event(ev.TASK_SUCCEEDED))
    assert flt.matches_task("q1", "x") and not flt.matches_task("q2", "x")
    assert not flt.matches_task(None, None)
    assert TailFilter("events").matches_record(event(ev.COMMAND_REJECTED))
    assert TailFilter("events", type="demo.echo").matches_task("any", "demo.echo")


@pytest.mark.parametrize(
    "fields",
    [
        {"stream": "logs"},
        {"stream": "logs", "task_id": "t", "queue": "q"},
        {"stream": "events", "status": "done"},
    ],
)
def test_unservable_filters_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        TailFilter(**fields)


class Lookup:
    def __init__(self) -> None:
        self.calls = 0

    async def get_task(self, tenant: str, task_id: str) -> dict[str, object] | None:
        self.calls += 1
        return {"queue": "old-q", "type": "old.type"} if task_id == "old" else None


async def test_attrs_come_from_submits_then_the_read_model_once() -> None:
    attrs, lookup = TaskAttrs(capacity=2), Lookup()
    attrs.remember(submitted("t1"))
    assert await attrs.resolve(event(ev.TASK_READY, "t1"), lookup) == ("q1", "demo.echo")
    assert await attrs.resolve(event(ev.TASK_READY, "old"), lookup) == ("old-q", "old.type")
    assert await attrs.resolve(event(ev.TASK_READY, "old"), lookup) == ("old-q", "old.type")
    assert lookup.calls == 1
    assert await attrs.resolve(event(ev.TASK_READY, "nope"), lookup) is None
    attrs.remember(submitted("t3"))  # capacity 2: the least recently used (t1) goes
    assert attrs.get("default", "t1") is None and len(attrs) == 2
    assert attrs.get("other-tenant", "t3") is None


async def test_hub_delivers_only_to_the_records_tenant() -> None:
    hub = Hub()
    mine = Subscriber("default", TailFilter("events"), 10)
    theirs = Subscriber("acme", TailFilter("events"), 10)
    hub.add(mine)
    hub.add(theirs)
    hub.publish(event(ev.TASK_READY, tenant="acme"))
    assert (mine.queued, theirs.queued) == (0, 1)
    got = await theirs.get()
    assert got is not None and got.tenant == "acme"
    assert await mine.get(idle=0.01) is None


async def test_an_overflowing_subscriber_is_dropped_with_its_queue_freed() -> None:
    hub = Hub()
    slow = Subscriber("default", TailFilter("events"), 3)
    hub.add(slow)
    for i in range(10):
        hub.publish(event(ev.TASK_READY, offset=i))
    assert slow.overflowed.is_set() and slow.queued == 0 and len(hub) == 0
    with pytest.raises(TooSlow, match="client too slow: 4 messages behind; reconnect"):
        await slow.get()


async def test_filtered_out_records_do_not_count_against_the_queue() -> None:
    sub = Subscriber("default", TailFilter("events", task_id="t2"), 1)
    for i in range(5):
        assert sub.offer(event(ev.TASK_READY, "t1", offset=i))
    assert sub.queued == 0 and not sub.overflowed.is_set()
