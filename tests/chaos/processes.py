"""Killing and restarting the stack's processes by PID, and workers the test runs itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskstream.stack.state import read_stack
from tests.chaos.conftest import CHAOS_ENV

ROOT = Path(__file__).resolve().parents[2]


def service_pid(stack: dict[str, Any], name: str) -> int:
    """The current PID of a supervised service, from the rewritten stack.json."""
    info = read_stack(Path(stack["data_dir"]))
    assert info is not None, "stack.json is gone"
    pid = info["services"][name]["pid"]
    assert isinstance(pid, int)
    return pid


def alive(pid: int) -> bool:
    """Whether a process with `pid` exists (and is not a zombie we own)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_service(stack: dict[str, Any], name: str) -> int:
    """SIGKILL a supervised service; return the PID that was killed."""
    pid = service_pid(stack, name)
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_restarted(stack: dict[str, Any], name: str, old_pid: int, timeout: float = 60) -> int:
    """Wait until the supervisor has started a new incarnation of `name`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = service_pid(stack, name)
        if pid != old_pid and alive(pid):
            return pid
        time.sleep(0.1)
    raise AssertionError(f"{name} was not restarted within {timeout} s")


@dataclass
class WorkerPool:
    """Worker processes the test starts, kills with SIGKILL and restarts at once."""

    stack: dict[str, Any]
    size: int
    concurrency: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **CHAOS_ENV,
            "TASKSTREAM_KAFKA_BOOTSTRAP": self.stack["kafka_bootstrap"],
            "TASKSTREAM_POSTGRES_DSN": self.stack["postgres_dsn"],
            "PYTHONPATH": str(ROOT),
        }
        log = Path(self.stack["data_dir"]) / f"chaos-worker-{slot}.log"
        argv = [sys.executable, "-m", "taskstream", "worker", "--queues", "default"]
        argv += ["--concurrency", str(self.concurrency), "--tasks", "tests.chaos.tasks"]
        with log.open("ab") as out:
            return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        """Start every worker of the pool."""
        self.procs = [self._spawn(i) for i in range(self.size)]

    def kill_and_restart(self, slot: int) -> int:
        """SIGKILL the worker in `slot` and start a new one in its place; the killed PID."""
        proc = self.procs[slot]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[slot] = self._spawn(slot)
        return proc.pid

    @property
    def pids(self) -> list[int]:
        """PIDs of the current workers."""
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those that do not stop in time."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
