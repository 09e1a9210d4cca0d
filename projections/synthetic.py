"""Realistic event streams for tests and benchmarks, made by the real `decide`/`evolve`.

Each task lives a life (submit, dispatch, start, fail and retry, time out, succeed, die,
get cancelled, receive stale or duplicate reports); the lives are interleaved in a
seeded random order that keeps each task's own order, as one scheduler partition would.
Deterministic for a seed; no IO.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from taskstream.domain import commands as c
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import decide, evolve
from taskstream.domain.state import Status, TaskState

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class _Life:
    """One task's commands and the events they caused, at a clock that only moves forward."""

    def __init__(self, rng: random.Random, task_id: str, tenant: str, now: datetime) -> None:
        self.rng = rng
        self.task_id = task_id
        self.tenant = tenant
        self.now = now
        self.state: TaskState | None = None
        self.events: list[Envelope] = []

    def command(self, type_: str, payload: dict[str, Any]) -> Envelope:
        self.now += timedelta(milliseconds=self.rng.randint(1, 2000))
        cmd = Envelope(
            event_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            type=type_,
            task_id=self.task_id,
            occurred_at=self.now,
            tenant=self.tenant,
            payload=payload,
        )
        for ev in decide(self.state, cmd, self.now, draw=self.rng.random()):
            self.state = evolve(self.state, ev)
            self.events.append(ev)
        return cmd

    def fire(self, kind: str, attempt: int = 0) -> None:
        payload: dict[str, Any] = {"kind": kind, "attempt": attempt}
        if kind == "run_at" and self.state is not None and self.state.run_at is not None:
            if self.rng.random() < 0.5:
                # Fired ahead of the time, as the scheduler does with a timer lead: the
                # command lands 1 ms to 2 s after this, within the lead.
                self.now = max(self.now, self.state.run_at - timedelta(milliseconds=2100))
                payload["lead_ms"] = 2100
            else:
                self.now = max(self.now, self.state.run_at)
        self.command(c.FIRE_TIMER, payload)

    def run(self) -> None:
        rng = self.rng
        delayed = rng.random() < 0.1
        submit: dict[str, Any] = {
            "queue": rng.choice(["default", "emails", "reports", "video"]),
            "type": rng.choice(["send_email", "render", "resize", "http"]),
            "payload": {"n": rng.randint(0, 10**6), "to": f"user{rng.randint(1, 999)}@x.io"},
            "priority": rng.randint(0, 9),
            "max_attempts": rng.randint(1, 4),
            "labels": {"team": rng.choice(["a", "b"])},
        }
        if delayed:
            submit["run_at"] = (self.now + timedelta(minutes=rng.randint(1, 60))).isoformat()
        self.command(c.SUBMIT_TASK, submit)
        if rng.random() < 0.05:
            self.command(c.SUBMIT_TASK, submit)  # a second submit: rejected
        if delayed:
            if rng.random() < 0.2:
                self.command(c.CANCEL_TASK, {"reason": "no longer needed"})
                return
            self.fire("run_at")
        while self.state is not None and not self.state.terminal:
            self._attempt()

    def _attempt(self) -> None:
        rng = self.rng
        state = self.state
        assert state is not None
        if state.status is Status.SCHEDULED:
            self.fire("run_at")
            return
        self.command(c.DISPATCH_TASK, {"dispatch_id": str(uuid.UUID(int=rng.getrandbits(128)))})
        d = self.state.dispatch if self.state else None
        if d is not None and rng.random() < 0.05:
            self.fire("dispatch", d.attempt)  # not started in time: dispatched again
            d = self.state.dispatch if self.state else None
        if d is None:
            return
        worker = f"worker-{rng.randint(1, 20)}"
        start = {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": worker}
        self.command(c.START_ATTEMPT, start)
        roll = rng.random()
        if roll < 0.6:
            self.command(c.SUCCEED_ATTEMPT, {"attempt": d.attempt, "worker": worker, "result": 1})
        elif roll < 0.9:
            self.command(
                c.FAIL_ATTEMPT,
                {
                    "attempt": d.attempt,
                    "worker": worker,
                    "error": "ValueError: boom",
                    "traceback": "Traceback (most recent call last):\n  ...\nValueError: boom",
                    "retryable": rng.random() < 0.9,
                },
            )
        else:
            self.fire("lease", d.attempt)
        if rng.random() < 0.1:  # a late report of the same attempt: rejected
            self.command(c.SUCCEED_ATTEMPT, {"attempt": d.attempt, "worker": worker})


def task_lives(
    n_tasks: int, *, seed: int = 0, tenants: tuple[str, ...] = ("default",)
) -> list[list[Envelope]]:
    """The events of `n_tasks` independent task lives, each in version order."""
    rng = random.Random(seed)
    lives = []
    for i in range(n_tasks):
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start = EPOCH + timedelta(seconds=i)
        life = _Life(rng, task_id, tenants[i % len(tenants)], start)
        life.run()
        lives.append(life.events)
    return lives


def interleave(lives: list[list[Envelope]], *, seed: int = 0) -> list[Envelope]:
    """One stream of all `lives`, shuffled but keeping each life's own order."""
    rng = random.Random(seed)
    cursors = [0] * len(lives)
    live = [i for i, life in enumerate(lives) if life]
    out: list[Envelope] = []
    while live:
        k = rng.randrange(len(live))
        i = live[k]
        out.append(lives[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] == len(lives[i]):
            live[k] = live[-1]
            live.pop()
    return out


def by_time(lives: list[list[Envelope]]) -> list[Envelope]:
    """One stream of all `lives` in `occurred_at` order, as a scheduler would append them.

    The sort is stable and each life's clock only moves forward, so each life keeps its
    own order.
    """
    return sorted((ev for life in lives for ev in life), key=lambda ev: ev.occurred_at)


def stream(
    n_tasks: int,
    *,
    seed: int = 0,
    tenants: tuple[str, ...] = ("default",),
    order: str = "time",
) -> list[Envelope]:
    """The events of `n_tasks` task lives, one second apart: in time order (`"time"`), or
    shuffled (`"random"`: every task stays active the whole stream, the worst case for
    a projection's batches)."""
    lives = task_lives(n_tasks, seed=seed, tenants=tenants)
    if order == "time":
        return by_time(lives)
    if order == "random":
        return interleave(lives, seed=seed + 1)
    raise ValueError(f"order must be 'time' or 'random', not {order!r}")
