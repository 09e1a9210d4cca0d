"""given-events / when-command / then-events helpers for the task state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import RetryPolicy, decide, evolve
from taskstream.domain.state import TaskState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def command(type_: str, payload: dict[str, Any], *, task_id: str = "t1", cid: str = "") -> Envelope:
    """A command envelope at T0 (the time passed to decide is what counts)."""
    return Envelope(
        event_id=cid or f"{type_}:{payload}",
        type=type_,
        task_id=task_id,
        occurred_at=T0,
        payload=payload,
    )


@dataclass
class Scenario:
    """Drives one task through commands, keeping every event emitted."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    now: datetime = T0
    state: TaskState | None = None
    events: list[Envelope] = field(default_factory=list)
    counter: int = 0

    def when(self, type_: str, payload: dict[str, Any], *, draw: float = 0.5) -> list[Envelope]:
        """Decide a fresh command and fold its events in; returns them."""
        self.counter += 1
        return self.replay(command(type_, payload, cid=f"c{self.counter}"), draw=draw)

    def replay(self, cmd: Envelope, *, draw: float = 0.5) -> list[Envelope]:
        """Decide a given command (a duplicate, say) and fold its events in."""
        out = decide(self.state, cmd, self.now, policy=self.policy, draw=draw)
        for event in out:
            self.state = evolve(self.state, event)
        self.events.extend(out)
        return out

    @property
    def task(self) -> TaskState:
        """The state, which must exist by now."""
        assert self.state is not None, "no task yet"
        return self.state

    def advance(self, seconds: float) -> None:
        """Move the clock."""
        self.now += timedelta(seconds=seconds)

    def submit(self, **fields: Any) -> list[Envelope]:
        """Submit the task with `fields` over defaults."""
        return self.when("task.submit", {"type": "demo.echo", **fields})

    def dispatch(self, dispatch_id: str = "d") -> list[Envelope]:
        """The scheduler hands the task to a worker."""
        return self.when("task.dispatch", {"dispatch_id": f"{dispatch_id}{self.counter}"})

    def start(self, worker: str = "w1") -> list[Envelope]:
        """The worker reports the dispatched attempt started."""
        assert self.state is not None and self.state.dispatch is not None
        d = self.state.dispatch
        return self.when(
            "attempt.start", {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": worker}
        )

    def run_once(self, *, fail: str | None = None, retryable: bool = True) -> list[Envelope]:
        """Dispatch, start and report one attempt; returns the report's events."""
        self.dispatch()
        self.start()
        assert self.state is not None
        number = self.state.attempts[-1].number
        if fail is None:
            return self.when("attempt.succeed", {"attempt": number, "worker": "w1", "result": 1})
        return self.when(
            "attempt.fail",
            {"attempt": number, "worker": "w1", "error": fail, "retryable": retryable},
        )

    def types(self) -> list[str]:
        """Types of every event so far."""
        return [e.type for e in self.events]
