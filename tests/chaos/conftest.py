"""A stack of its own for the chaos tests, so their kills never disturb other tests.

Package-scoped: it stops when the chaos tests are done, before another stack starts.
Short leases and dispatch timeouts make the recovery of killed work quick.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskstream.stack.launch import LaunchedStack

CHAOS_ENV = {
    "TASKSTREAM_LEASE_SECONDS": "3",
    "TASKSTREAM_DISPATCH_TIMEOUT_SECONDS": "20",
    "TASKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
    "TASKSTREAM_WORKER_SHUTDOWN_GRACE_SECONDS": "2",
    "TASKSTREAM_WORKER_CONCURRENCY": "8",
    "TASKSTREAM_WORKER_TASKS": "tests.chaos.tasks",
    "TASKSTREAM_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="package")
def chaos_stack() -> Iterator[dict[str, Any]]:
    """The chaos tests' own embedded stack: the parsed stack.json."""
    launched = LaunchedStack(Path(tempfile.mkdtemp(prefix="taskstream-chaos-")), env=CHAOS_ENV)
    info = launched.start()
    try:
        yield info
    finally:
        launched.stop()
