"""Garbage-collector tuning for the long-running services and the rebuild.

Folding, decoding and encoding allocate many short-lived objects while the processes
hold large live heaps (a scheduler's task states, a rebuild's cache). With CPython's
default first-generation threshold (700 allocations) the cyclic collector then runs
thousands of times a second and walks those heaps: measured on the rebuild's
decode-and-fold path, that was 60% of its CPU. Almost nothing here forms reference
cycles, so reference counting frees it; the collector only needs to run now and then.
"""

from __future__ import annotations

import gc

from taskstream.settings import Settings


def tune_gc(settings: Settings) -> None:
    """Move objects alive now (modules, settings) out of the collector's sight and raise
    the first-generation threshold to `settings.gc_threshold` (0 keeps CPython's)."""
    if settings.gc_threshold <= 0:
        return
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(settings.gc_threshold, second, third)
