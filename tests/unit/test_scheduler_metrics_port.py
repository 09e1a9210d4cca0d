"""A taken metrics port is logged; the scheduler goes on without serving metrics."""

from __future__ import annotations

import logging
import socket

import pytest

from streams.scheduler.service import _serve_metrics


def test_a_taken_port_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="streams.scheduler.service"):
            _serve_metrics(port, "127.0.0.1")
    assert any("metrics not served" in r.getMessage() for r in caplog.records)
