"""One chaos run: submit a mixed load, kill processes while it runs, collect what happened."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from taskstream.audit import AuditReport, audit
from taskstream.codec import decode
from taskstream.domain import events as e
from taskstream.logread import partition_count, read_partition
from taskstream.settings import Settings
from tests.chaos import processes as ps
from tests.chaos.tasks import TABLE_DDL

TERMINAL_EVENTS = frozenset({e.TASK_SUCCEEDED, e.TASK_DEAD_LETTERED, e.TASK_CANCELLED})
TERMINAL = frozenset({"succeeded", "dead", "cancelled"})


@dataclass(frozen=True, slots=True)
class Plan:
    """How hard to shake the stack."""

    tasks: int = 2000
    pool_workers: int = 2
    concurrency: int = 8
    kill_every: float = 6.0
    max_worker_kills: int = 10
    # Which worker kill (1-based) is followed by a kill of each other service.
    service_kills: tuple[tuple[int, str], ...] = ((2, "scheduler"), (4, "projector"), (6, "worker"))
    drain_timeout: float = 240.0


@dataclass
class Kill:
    """One SIGKILL: what, which PID, seconds after the first submit."""

    what: str
    pid: int
    at: float


@dataclass
class Outcome:
    """Everything the assertions need, read after the run drained."""

    plan: Plan
    kinds: dict[str, str]  # task id -> kind
    kills: list[Kill]
    drain_seconds: float
    statuses: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    archive: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    log: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)  # event id ->
    executions: Counter[tuple[str, int]] = field(default_factory=Counter)
    execution_pids: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    audit: AuditReport | None = None
    schedule_id: str = ""
    schedule_fires: list[dict[str, Any]] = field(default_factory=list)
    schedule_kill_at: float | None = None
    schedule_deleted_at: float | None = None
    runtime_seconds: float = 0.0

    @property
    def worker_kills(self) -> int:
        """Kills of processes that run handlers."""
        return sum(1 for k in self.kills if k.what.startswith("worker"))

    def reported_attempts(self) -> set[tuple[str, int]]:
        """Attempts whose outcome a handler reported (succeeded or failed)."""
        return {
            (tid, a["number"])
            for tid, attempts in self.attempts.items()
            for a in attempts
            if a.get("outcome") in ("succeeded", "failed")
        }

    def duplicates(self) -> list[tuple[str, int, list[int], str]]:
        """Executions beyond one per reported attempt: (task, attempt, worker pids, why)."""
        reported = self.reported_attempts()
        out = []
        for key, count in sorted(self.executions.items()):
            extra = count - (1 if key in reported else 0)
            why = "same attempt ran again" if key in reported else "attempt lost to a kill"
            out += [(key[0], key[1], self.execution_pids[key], why)] * extra
        return out

    def scheduler_kill_allowance(self) -> int:
        """Dispatches a killed scheduler may have sent without their event: its whole
        in-flight allowance (every worker's slots times the overcommit, as set)."""
        kills = sum(1 for k in self.kills if k.what == "scheduler")
        workers = self.plan.pool_workers + 1
        return math.ceil(kills * workers * self.plan.concurrency * Settings().capacity_overcommit)

    def summary(self) -> list[str]:
        """The lines printed after the run."""
        by_what = Counter(k.what for k in self.kills)
        dup = self.duplicates()
        fires = self.schedule_fires
        return [
            "",
            f"chaos: {len(self.kinds)} tasks ({dict(Counter(self.kinds.values()))}), "
            f"statuses {dict(Counter(self.statuses.values()))}",
            f"chaos: {len(self.kills)} kills {dict(by_what)}; "
            f"drained in {self.drain_seconds:.1f} s; run {self.runtime_seconds:.1f} s",
            f"chaos: {sum(self.executions.values())} executions, {len(dup)} duplicate "
            f"({dict(Counter(d[3] for d in dup))}), bound "
            f"{self.worker_kills * self.plan.concurrency + self.scheduler_kill_allowance()}",
            *(
                f"chaos:   duplicate {tid} attempt {n} pids {pids}: {why}"
                for tid, n, pids, why in dup[:15]
            ),
            f"chaos: audit {self.audit.commands if self.audit else '?'} commands, "
            f"{len(self.audit.lost) if self.audit else '?'} lost",
            f"chaos: schedule fired {len(fires)} times, missed "
            f"{sum(f['missed'] for f in fires)}, duplicate due times "
            f"{len(fires) - len({f['due_at'] for f in fires})}",
        ]


def bodies(n: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """A reproducible mix: instant, short sleeps, flaky (fail then succeed), doomed (dead)."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(n):
        roll = rng.random()
        body: dict[str, Any] = {"type": "chaos.step", "max_attempts": 10}
        body["backoff_base_seconds"] = 0.2
        body["backoff_max_seconds"] = 1.0
        if roll < 0.40:
            kind, payload = "instant", {}
        elif roll < 0.75:
            kind, payload = "sleep", {"seconds": round(rng.uniform(0.05, 0.5), 3)}
        elif roll < 0.90:
            kind, payload = "flaky", {"failures": rng.randint(1, 2)}
        else:
            kind, payload = "doomed", {"failures": 99}
            body["max_attempts"] = 2
        out.append((kind, {**body, "payload": payload}))
    return out


async def _submit(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(items), 500):
        resp = await client.post("/v1/tasks:batch", json={"tasks": items[start : start + 500]})
        assert resp.status_code == 202, resp.text
        ids += [item["id"] for item in resp.json()["items"]]
    return ids


async def _terminal_count(conn: asyncpg.Connection, ids: list[str]) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = ANY($2::text[])",
        ids,
        list(TERMINAL),
    )
    return count


async def _by_status(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM tasks WHERE id = ANY($1::text[]) GROUP BY status", ids
    )
    found = {r["status"]: r["n"] for r in rows}
    found["missing"] = len(ids) - sum(found.values())
    return found


async def execute(
    stack: dict[str, Any],
    plan: Plan,
    schedule_id: str,
    progress: Callable[[float, dict[str, int], list[Kill]], None] | None = None,
) -> Outcome:
    """Submit, kill on a beat until everything is terminal, then read the results."""
    dsn = stack["postgres_dsn"]
    pool = ps.WorkerPool(stack, plan.pool_workers, plan.concurrency)
    pool.start()
    conn = await asyncpg.connect(dsn)
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    try:
        mix = bodies(plan.tasks)
        async with httpx.AsyncClient(base_url=stack["api_url"], headers=headers, timeout=60) as c:
            began = time.monotonic()
            ids = await _submit(c, [b for _, b in mix])
        kinds = {tid: kind for tid, (kind, _) in zip(ids, mix, strict=True)}
        kills: list[Kill] = []
        outcome = Outcome(plan, kinds, kills, 0.0, schedule_id=schedule_id)
        deadline = began + plan.drain_timeout
        next_kill = time.monotonic() + plan.kill_every
        while await _terminal_count(conn, ids) < len(ids):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not drained in {plan.drain_timeout:.0f} s: {await _by_status(conn, ids)}; "
                    f"kills {kills}"
                )
            pool_kills = len([k for k in kills if k.what == "worker-pool"])
            if pool_kills < plan.max_worker_kills and time.monotonic() >= next_kill:
                await _kill_round(stack, plan, pool, kills, began, outcome)
                next_kill = time.monotonic() + plan.kill_every
            if progress is not None:
                progress(time.monotonic() - began, await _by_status(conn, ids), kills)
            await asyncio.sleep(0.25)
        outcome.drain_seconds = time.monotonic() - began
        await _read(stack, conn, outcome, ids)
    finally:
        await conn.close()
        await asyncio.to_thread(pool.stop)
    return outcome


async def _kill_round(
    stack: dict[str, Any],
    plan: Plan,
    pool: ps.WorkerPool,
    kills: list[Kill],
    began: float,
    outcome: Outcome,
) -> None:
    n = len([k for k in kills if k.what == "worker-pool"]) + 1
    pid = pool.kill_and_restart((n - 1) % pool.size)
    kills.append(Kill("worker-pool", pid, time.monotonic() - began))
    for after, name in plan.service_kills:
        if after == n:
            old = ps.kill_service(stack, name)
            at = time.monotonic() - began
            kills.append(Kill(name if name != "worker" else "worker-supervised", old, at))
            if name == "scheduler":
                outcome.schedule_kill_at = time.time()
            await asyncio.to_thread(ps.wait_restarted, stack, name, old)


async def _read(
    stack: dict[str, Any], conn: asyncpg.Connection, out: Outcome, ids: list[str]
) -> None:
    rows = await conn.fetch(
        "SELECT id, status, state->'attempts' AS attempts FROM tasks WHERE id = ANY($1::text[])",
        ids,
    )
    import json

    for r in rows:
        out.statuses[r["id"]] = r["status"]
        out.attempts[r["id"]] = json.loads(r["attempts"]) if r["attempts"] else []
    for r in await conn.fetch(
        "SELECT task_id, version, type, event_id FROM task_events"
        " WHERE task_id = ANY($1::text[]) ORDER BY task_id, version",
        ids,
    ):
        out.archive.setdefault(r["task_id"], []).append((r["version"], r["type"], r["event_id"]))
    for r in await conn.fetch("SELECT task_id, attempt, worker_pid FROM chaos_executions"):
        key = (r["task_id"], r["attempt"])
        out.executions[key] += 1
        out.execution_pids.setdefault(key, []).append(r["worker_pid"])
    settings = Settings(kafka_bootstrap=stack["kafka_bootstrap"])
    wanted = set(ids)
    topic = settings.topic("events")
    for p in range(await partition_count(settings, topic)):
        async for records in read_partition(settings, topic, p):
            for record in records:
                ev = decode(record.value)
                if ev.task_id in wanted:
                    out.log.setdefault(ev.task_id, {})[ev.event_id] = (ev.version, ev.type)
    out.audit = await audit(settings, settle_seconds=15)


async def prepare(dsn: str) -> None:
    """Create the executions table the chaos handler writes to."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(TABLE_DDL)
    finally:
        await conn.close()
