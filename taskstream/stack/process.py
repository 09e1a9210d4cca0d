"""One supervised child process: spawn, wait until healthy, restart when it dies, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from taskstream.stack.children import tail, with_death_signal
from taskstream.stack.restart import RestartPolicy

log = logging.getLogger("taskstream.stack")

HealthCheck = Callable[[], Awaitable[bool]]
Kind = Literal["infra", "service"]


class ChildFailed(RuntimeError):
    """A child exited or stayed unhealthy while it was starting."""


@dataclass(slots=True)
class ChildSpec:
    """How to run one child; `health=None` means "alive after `settle_seconds`"."""

    name: str
    argv: list[str]
    kind: Kind
    env: dict[str, str] | None = None
    user: str | None = None  # run under this account (Postgres refuses root)
    health: HealthCheck | None = None
    settle_seconds: float = 2.0
    start_timeout: float = 60.0
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0
    # What the kernel sends the child if the supervisor itself is killed.
    death_signal: int | None = signal.SIGKILL
    port: int | None = None


class SupervisedProcess:
    """A child process that the supervisor keeps alive until it is told to stop."""

    def __init__(
        self,
        spec: ChildSpec,
        log_path: Path,
        on_restart: Callable[[SupervisedProcess], Awaitable[None]] | None = None,
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self.policy = RestartPolicy()
        self._on_restart = on_restart
        self._proc: asyncio.subprocess.Process | None = None
        self._started = 0.0
        self._stopping = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The child's name (`broker`, `api`, ...)."""
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """PID of the current incarnation, if one was spawned."""
        return self._proc.pid if self._proc else None

    @property
    def restarts(self) -> int:
        """How many times the child was restarted after dying."""
        return self.policy.restarts

    def alive(self) -> bool:
        """Whether the current incarnation is still running."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Spawn the child and wait until it is healthy; raise `ChildFailed` otherwise."""
        await self._spawn()
        await self.wait_healthy()

    def supervise(self) -> None:
        """From now on, restart the child whenever it dies."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name=f"watch-{self.name}")

    async def wait_healthy(self) -> None:
        """Poll the health check until it passes, the child exits, or the start times out."""
        spec = self.spec
        deadline = time.monotonic() + spec.start_timeout
        settle_until = time.monotonic() + spec.settle_seconds
        last_error = ""
        while time.monotonic() < deadline:
            if not self.alive():
                code = self._proc.returncode if self._proc else None
                raise ChildFailed(f"{self.name} exited with code {code} while starting")
            if spec.health is None:
                if time.monotonic() >= settle_until:
                    return
            else:
                try:
                    if await asyncio.wait_for(spec.health(), timeout=5.0):
                        return
                except Exception as exc:  # any probe failure just means "not yet"
                    last_error = repr(exc)
            await asyncio.sleep(0.1)
        detail = f" (last probe error: {last_error})" if last_error else ""
        raise ChildFailed(f"{self.name} not healthy after {spec.start_timeout:.0f} s{detail}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the child's log file, for error messages."""
        return tail(self.log_path, lines)

    async def stop(self, *, force: bool = False) -> None:
        """Stop the child: its stop signal, then SIGKILL after `stop_timeout` (or at once)."""
        self._stopping.set()
        # The watcher first: a restart in flight must not spawn behind our back.
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        proc = self._proc
        if proc is not None and proc.returncode is None:
            sig = signal.SIGKILL if force else self.spec.stop_signal
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout=self.spec.stop_timeout)
            except TimeoutError:
                log.warning(
                    "child did not stop in time; killing it",
                    extra={"child": self.name, "pid": proc.pid},
                )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            self._kill_group(proc.pid)

    def kill(self) -> None:
        """SIGKILL the child's whole process group now (the second Ctrl-C)."""
        self._stopping.set()
        if self._proc is not None and self._proc.returncode is None:
            self._kill_group(self._proc.pid)

    async def _spawn(self) -> None:
        spec = self.spec
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"--- {stamp} supervisor: starting {spec.name}: {spec.argv}\n".encode())
            out.flush()
            # Own session: the terminal's Ctrl-C reaches only the supervisor, which then
            # stops the children in order. The death signal covers a killed supervisor.
            self._proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=spec.env,
                start_new_session=True,
                user=spec.user,
                group=spec.user,
                extra_groups=[] if spec.user else None,
                preexec_fn=with_death_signal(spec.death_signal),
            )
        self._started = time.monotonic()
        log.info("child started", extra={"child": spec.name, "pid": self._proc.pid})

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping.is_set():
                return
            self._kill_group(self._proc.pid)
            uptime = time.monotonic() - self._started
            delay = self.policy.next_delay(uptime)
            log.error(
                "child died; restarting",
                extra={
                    "child": self.name,
                    "pid": self._proc.pid,
                    "code": code,
                    "uptime_s": round(uptime, 1),
                    "restart_in_s": delay,
                    "restarts": self.restarts,
                    "log": str(self.log_path),
                },
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                return
            try:
                await self._spawn()
            except OSError:
                log.exception("could not respawn child", extra={"child": self.name})
                continue
            if self._on_restart is not None:
                try:
                    await self._on_restart(self)
                except Exception:
                    log.exception("restart hook failed", extra={"child": self.name})

    @staticmethod
    def _kill_group(pgid: int) -> None:
        # Leftovers of a dead leader (a service's helper processes) could hold ports the
        # next incarnation needs. Postgres backends run in sessions of their own and exit
        # by themselves when they notice the postmaster is gone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
