"""Shared benchmark plumbing: percentiles, result files, the embedded stack."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskstream.stack.launch import LaunchedStack

RESULTS = Path(__file__).resolve().parent / "results"
# Measured before a benchmark starts its stack, while the machine is as quiet as it gets.
_CALIBRATION: dict[str, float] = {}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of `values` (milliseconds in, milliseconds out)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(pick(0.95), 2),
        "p99": round(pick(0.99), 2),
        "max": round(ordered[-1], 2),
    }


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write figures as JSON under bench/results/ and return the path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        "benchmark": name,
        "at": stamp,
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            # 1, 5 and 15 minute load averages when the figures were saved: 2 cores are
            # shared, so a figure reads against how busy the machine was.
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_calibration_ms": _CALIBRATION.get("ms") or cpu_calibration_ms(),
        },
        **figures,
    }
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(doc, indent=2))
    (RESULTS / f"{name}-latest.json").write_text(json.dumps(doc, indent=2))
    return path


def _cpus() -> int:
    return os.cpu_count() or 0


def cpu_calibration_ms(rounds: int = 3) -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (2,000,000 additions),
    the best of `rounds`.

    The machines these figures come from are shared virtual machines whose cores differ
    in speed from one day to the next (seen: 2x). Saved with every result, this says
    which figures may be compared with which.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def now() -> float:
    """Wall-clock seconds (benchmarks compare with timestamps written by the services)."""
    return time.time()


def run_and_report(
    name: str,
    measure: Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]],
    *,
    stack_json: str | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Measure on a running stack (its stack.json) or on a fresh embedded one; print the
    figures and save them as JSON."""
    _CALIBRATION["ms"] = cpu_calibration_ms()
    print(f"cpu calibration: {_CALIBRATION['ms']} ms (lower is a faster core)")
    if stack_json:
        figures = asyncio.run(measure(json.loads(Path(stack_json).read_text())))
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="taskstream-bench-"))
        with LaunchedStack(
            # Benchmarks measure the pipeline, not the per-key rate limit: it is off.
            data_dir,
            env={
                "TASKSTREAM_LOG_LEVEL": "WARNING",
                "TASKSTREAM_RATE_LIMIT_PER_SECOND": "0",
                **(env or {}),
            },
        ) as stack:
            time.sleep(3)  # let the worker's first heartbeat reach the scheduler
            figures = asyncio.run(measure(stack))
    path = save(name, figures)
    width = max(len(k) for k in figures) + 2
    for key, value in figures.items():
        print(f"{key:{width}} {value}")
    print(f"saved {path}")
