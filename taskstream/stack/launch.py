"""Run the embedded stack as a child process and wait until it is ready.

Used by the test session and the benchmarks; `taskstream dev` is the same supervisor
in the foreground.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any


class LaunchedStack:
    """A supervisor child process with its data directory and its stack.json."""

    def __init__(
        self, data_dir: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 180.0) -> dict[str, Any]:
        """Start the supervisor; return stack.json once it is written."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "supervisor.log").open("ab")
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "taskstream", "dev", "--data-dir", str(self.data_dir)]
        # Test and benchmark stacks take any free port: two of them starting at once
        # (or one beside `make dev`) would otherwise both go for 8000.
        port = [] if any(a.startswith("--api-port") for a in self.args) else ["--api-port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *port, *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        path = self.data_dir / "stack.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.data_dir / "supervisor.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"stack supervisor exited {self.proc.returncode}:\n{tail}")
            if path.exists():
                self.info = json.loads(path.read_text())
                self.info.setdefault("data_dir", str(self.data_dir))
                return self.info
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the stack was not ready in {timeout} s; see {self.data_dir}/logs")

    def stop(self, timeout: float = 60.0) -> None:
        """Ctrl-C the supervisor and wait for it; kill it if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> dict[str, Any]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
