"""Audit the log: every command must have an effect in the events topic.

The scheduler answers every command it decides with an event or a `command.rejected`
whose `causation_id` is the command's id (heartbeats excepted: they only extend a lease,
and duplicates share their first copy's effect). A command older than the settle time
with no such event was lost between the commands topic and the scheduler — something the
broker facts in ARCHITECTURE.md say must be detected and reported, never assumed away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from taskstream.codec import decode
from taskstream.domain import commands as c
from taskstream.domain.errors import DecodeError
from taskstream.logread import partition_count, read_partition
from taskstream.settings import Settings

Progress = Callable[[str, int], None]  # (what, partition) after each partition is read


@dataclass(frozen=True, slots=True)
class LostCommand:
    """A command with no effect in the events topic."""

    partition: int
    offset: int
    command_id: str
    type: str
    task_id: str
    age_seconds: float


@dataclass(slots=True)
class AuditReport:
    """What the audit found."""

    commands: int = 0
    heartbeats: int = 0
    with_effect: int = 0
    settling: int = 0
    undecodable: int = 0
    lost: list[LostCommand] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no command was lost."""
        return not self.lost


async def audit(
    settings: Settings, *, settle_seconds: float = 10.0, progress: Progress | None = None
) -> AuditReport:
    """Compare the commands topic with the events topic, partition by partition."""
    commands_topic, events_topic = settings.topic("commands"), settings.topic("events")
    partitions = await partition_count(settings, commands_topic)
    report = AuditReport()
    pending: dict[str, LostCommand] = {}
    now = time.time()
    # Commands first: every effect of a command read here is in the events read after.
    for p in range(partitions):
        async for records in read_partition(settings, commands_topic, p):
            for record in records:
                report.commands += 1
                try:
                    cmd = decode(record.value)
                except DecodeError:
                    report.undecodable += 1  # sent to the dead-letter topic by the scheduler
                    continue
                if cmd.type == c.HEARTBEAT_ATTEMPT:
                    report.heartbeats += 1
                    continue
                age = now - record.timestamp / 1000
                pending.setdefault(
                    cmd.event_id,
                    LostCommand(p, record.offset, cmd.event_id, cmd.type, cmd.task_id, age),
                )
        if progress:
            progress("commands", p)
    for p in range(partitions):
        async for records in read_partition(settings, events_topic, p):
            for record in records:
                try:
                    cause = decode(record.value).causation_id
                except DecodeError:
                    continue
                if cause is not None and pending.pop(cause, None) is not None:
                    report.with_effect += 1
        if progress:
            progress("events", p)
    for missing in pending.values():
        if missing.age_seconds < settle_seconds:
            report.settling += 1
        else:
            report.lost.append(missing)
    report.lost.sort(key=lambda m: (m.partition, m.offset))
    return report
