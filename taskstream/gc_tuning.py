"""Garbage-collector tuning for the long-running services and the rebuild.

Folding, decoding and encoding allocate many short-lived objects while the processes
hold large live heaps (a scheduler's task states, a rebuild's cache). With CPython's
default first-generation threshold (700 allocations) the cyclic collector then runs
thousands of times a second and walks those heaps: measured on the rebuild's
decode-and-fold path, that was 60% of its CPU. Almost nothing here forms reference
cycles, so reference counting frees it; the collector only needs to run now and then.

How far to raise the threshold depends on who waits. A rebuild only counts throughput
and takes 50,000. A service's event loop stands still for the whole of each young
collection, and with 50,000 those took 50-100 ms in the scheduler, which made timers
that late; services take 5,000.

Every collection's pause is observed (`taskstream_gc_pause_seconds`, by generation),
and a pause over `gc_pause_warn_ms` is logged, so a latency spike can be told apart
from a collection.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from taskstream.settings import Settings

log = logging.getLogger(__name__)

GC_PAUSE = Histogram(
    "taskstream_gc_pause_seconds",
    "Pauses of Python's cyclic garbage collector",
    ["generation"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


class _PauseWatch:
    """A `gc.callbacks` entry timing each collection."""

    def __init__(self, warn_seconds: float) -> None:
        self.warn_seconds = warn_seconds
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info.get("generation", -1)
        GC_PAUSE.labels(str(generation)).observe(pause)
        if pause >= self.warn_seconds:
            log.warning(
                "long garbage collection",
                extra={
                    "generation": generation,
                    "ms": round(pause * 1000, 1),
                    "collected": info.get("collected"),
                },
            )


def tune_gc(settings: Settings, *, rebuild: bool = False) -> None:
    """Move objects alive now (modules, settings) out of the collector's sight, raise the
    first-generation threshold (`settings.gc_threshold` in a service, the larger
    `settings.rebuild_gc_threshold` in a rebuild; 0 keeps CPython's), and time every
    collection."""
    if not any(isinstance(cb, _PauseWatch) for cb in gc.callbacks):
        gc.callbacks.append(_PauseWatch(settings.gc_pause_warn_ms / 1000))
    threshold = settings.rebuild_gc_threshold if rebuild else settings.gc_threshold
    if threshold <= 0:
        return
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, second, third)


def serve_pauses(registry: CollectorRegistry) -> None:
    """Expose the process's collection pauses in `registry` too (the API and the worker
    serve registries of their own; the histogram lives in the default one)."""
    registry.register(GC_PAUSE)
