"""The benchmarks' CPU sampler: roles from command lines, and this process's CPU counted."""

from __future__ import annotations

import subprocess
import sys
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


def test_a_process_started_during_the_phase_counts_under_its_own_role() -> None:
    # The command line names a worker; the child burns 0.4 s of CPU and exits.
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    with CpuSampler(interval=0.05) as cpu:
        child = subprocess.Popen([sys.executable, "-c", burn, "-m", "taskstream", "worker"])
        child.wait(timeout=30)
        time.sleep(0.1)
    # What it spent after its last sample is not seen: at most one interval.
    assert cpu.seconds.get("worker", 0) >= 0.3
