"""The benchmarks' CPU sampler: roles from command lines, and this process's CPU counted."""

from __future__ import annotations

import time

from bench.cpu import CpuSampler, role


def test_roles_come_from_the_command_line() -> None:
    assert role("python -m projections.replay.workers {}", 10, 1) == "replay processes"
    assert role("/x/postgres -D /d", 10, 1) == "postgres"
    assert role("/x/tansu-v0.6.0 broker --listener-url tcp://x", 10, 1) == "broker"
    assert role("/v/bin/python3 -m taskstream scheduler", 10, 1) == "scheduler"
    assert role("/v/bin/python3 -m taskstream api", 10, 1) == "api"
    assert role("anything", 10, 10) == "benchmark"
    assert role("sshd: root", 10, 1) == "other"


def test_this_process_cpu_is_counted() -> None:
    with CpuSampler(interval=0.05) as cpu:
        spent = time.process_time()
        while time.process_time() - spent < 0.4:
            pass
    assert cpu.seconds.get("benchmark", 0) >= 0.3
    figures = cpu.figures(per=2_000_000)
    per_million = figures["cpu_core_seconds_per_million"]
    assert isinstance(per_million, dict)
    assert per_million["benchmark"] == round(cpu.seconds["benchmark"] / 2, 1)
