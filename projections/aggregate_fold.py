"""Folding the events of a small aggregate (schedules, queues) onto its stored states."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.queue_model import QUEUE_PREFIX, is_queue
from taskstream.domain.schedule_model import SCHEDULE_PREFIX, is_schedule

log = logging.getLogger(__name__)


_OTHER_AGGREGATES = (SCHEDULE_PREFIX, QUEUE_PREFIX)


def split_aggregates(
    events: Sequence[Envelope],
) -> tuple[list[Envelope], list[Envelope], list[Envelope]]:
    """(task events, schedule events, queue events), each in log order: the three
    aggregates share the log and the archive and fold into their own tables.

    One pass over a batch of task events only (the common case; a rebuild runs this for
    every event), a second one when it holds others.
    """
    tasks = [ev for ev in events if not ev.task_id.startswith(_OTHER_AGGREGATES)]
    if len(tasks) == len(events):
        return tasks, [], []
    schedules = [ev for ev in events if is_schedule(ev.task_id)]
    queues = [ev for ev in events if is_queue(ev.task_id)]
    return tasks, schedules, queues


class Versioned(Protocol):
    """An aggregate state: its id and the version of the last event folded in."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)


def fold_aggregates(
    stored: Mapping[str, S],
    events: Iterable[Envelope],
    evolve: Callable[[S | None, Envelope], S | None],
    kind: str,
) -> dict[str, S]:
    """The aggregates `events` moved forward; duplicates are skipped, and an event that
    does not fold is logged and skipped, so it cannot stall the partition."""
    current: dict[str, S] = {}
    for ev in events:
        if ev.type == e.COMMAND_REJECTED:
            continue
        state = current.get(ev.task_id) or stored.get(ev.task_id)
        if state is not None and ev.version <= state.version:
            continue  # a duplicate
        try:
            new = evolve(state, ev)
        except Exception as exc:  # a bad event must not stall the partition
            log.error(
                f"{kind} event archived but not folded",
                extra={"aggregate_id": ev.task_id, "version": ev.version, "error": str(exc)},
            )
            continue
        if new is not None:
            current[new.id] = new
    return current
