"""The files a running stack keeps in its data directory: stack.json, the dev key, the lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
from pathlib import Path
from typing import Any

from taskstream.stack.children import cmdline, pid_alive

log = logging.getLogger("taskstream.stack")

STACK_FILE = "stack.json"
KEY_FILE = "dev_api_key"
LOCK_FILE = "supervisor.lock"


class StackLocked(RuntimeError):
    """Another supervisor owns the data directory."""


def stack_file(data_dir: Path) -> Path:
    """Where the stack description of `data_dir` lives."""
    return data_dir / STACK_FILE


def read_stack(data_dir: Path) -> dict[str, Any] | None:
    """The parsed stack.json of `data_dir`, or None when no stack wrote one."""
    try:
        doc: dict[str, Any] = json.loads(stack_file(data_dir).read_text())
    except FileNotFoundError:
        return None
    return doc


def write_stack(data_dir: Path, doc: dict[str, Any]) -> None:
    """Replace stack.json atomically: readers see the old or the new file, never half of one."""
    target = stack_file(data_dir)
    tmp = target.with_name(f".{STACK_FILE}.{os.getpid()}.tmp")
    # Owner-only: the file holds the development API key.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def remove_stack(data_dir: Path) -> None:
    """Delete stack.json (a clean stop)."""
    with contextlib.suppress(FileNotFoundError):
        stack_file(data_dir).unlink()


def reap_stale(data_dir: Path) -> None:
    """Kill the children a killed supervisor left, then forget its stack.json.

    Only a process whose command line still equals the recorded one is killed, so a
    reused PID is left alone.
    """
    old = read_stack(data_dir)
    if not old:
        return
    for name, entry in old.get("services", {}).items():
        pid = entry.get("pid")
        if isinstance(pid, int) and pid_alive(pid) and cmdline(pid) == entry.get("cmd"):
            log.warning("killing a leftover child", extra={"child": name, "pid": pid})
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    remove_stack(data_dir)


def dev_api_key(data_dir: Path) -> str:
    """The data directory's development API key, created on first use and kept after."""
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
    key = f"tsk_dev_{secrets.token_urlsafe(24)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


class SupervisorLock:
    """An exclusive `flock` on `<data_dir>/supervisor.lock`, holding the owner's PID."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `StackLocked` naming the PID that holds it."""
        # The fd is not inheritable (Python's default), so children never keep the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StackLocked(
                f"another supervisor (pid {holder}) is running on {self.path.parent}; "
                "stop it first or pick another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content no longer matters)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
