"""The embedded stack, started once per test session by the supervisor itself.

A stack that does not come up fails the session: integration tests never skip.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskstream.stack.launch import LaunchedStack
from taskstream.stack.ports import free_port

# The scheduler serves its Prometheus metrics here (test_scheduler_metrics.py).
SCHEDULER_METRICS_PORT = free_port()

# Short timings so failure paths finish quickly; production defaults are in settings.
STACK_ENV = {
    "TASKSTREAM_LEASE_SECONDS": "6",
    "TASKSTREAM_DISPATCH_TIMEOUT_SECONDS": "20",
    "TASKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
    "TASKSTREAM_WORKER_SHUTDOWN_GRACE_SECONDS": "5",
    "TASKSTREAM_LOG_LEVEL": "INFO",
    # The whole session shares the dev key: its rate limit is raised (429s: test_rate_limit).
    "TASKSTREAM_RATE_LIMIT_PER_SECOND": "100000",
    "TASKSTREAM_RATE_LIMIT_BURST": "100000",
    "TASKSTREAM_API_KEY_CACHE_SECONDS": "1",
}


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, Any]]:
    """The running embedded stack: the parsed stack.json."""
    # Only this stack serves the scheduler's metrics: other stacks (tests that start
    # their own with STACK_ENV) would find the port taken.
    env = {
        **STACK_ENV,
        "TASKSTREAM_SCHEDULER_METRICS_PORT": str(SCHEDULER_METRICS_PORT),
        "TASKSTREAM_SCHEDULER_METRICS_HOST": "127.0.0.1",
    }
    launched = LaunchedStack(Path(tempfile.mkdtemp(prefix="taskstream-test-")), env=env)
    info = launched.start()
    try:
        yield info
    finally:
        launched.stop()
