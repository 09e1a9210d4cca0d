"""Every garbage collection's pause is timed; a long one is logged."""

from __future__ import annotations

import gc
import logging

import pytest

from taskstream.gc_tuning import GC_PAUSE, _PauseWatch, tune_gc
from taskstream.settings import Settings


def _count(generation: str) -> float:
    for metric in GC_PAUSE.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels["generation"] == generation:
                return sample.value
    return 0.0


def test_collections_are_timed_and_long_ones_logged(caplog: pytest.LogCaptureFixture) -> None:
    before = _count("2")
    watch = _PauseWatch(warn_seconds=0.0)  # every pause counts as long
    gc.callbacks.append(watch)
    try:
        with caplog.at_level(logging.WARNING, logger="taskstream.gc_tuning"):
            gc.collect(2)
    finally:
        gc.callbacks.remove(watch)
    assert _count("2") == before + 1
    assert any(r.getMessage() == "long garbage collection" for r in caplog.records)


def test_tuning_installs_one_watch_and_sets_the_threshold() -> None:
    saved = gc.get_threshold()
    callbacks = list(gc.callbacks)
    try:
        settings = Settings(gc_threshold=12_345, rebuild_gc_threshold=67_890)
        tune_gc(settings)
        tune_gc(settings)
        assert gc.get_threshold()[0] == 12_345
        assert sum(isinstance(cb, _PauseWatch) for cb in gc.callbacks) == 1
        tune_gc(settings, rebuild=True)
        assert gc.get_threshold()[0] == 67_890
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
        gc.callbacks[:] = callbacks


def test_the_api_and_the_worker_serve_the_collection_pauses() -> None:
    from prometheus_client import generate_latest

    from api.metrics import ApiMetrics
    from streams.worker.metrics import WorkerMetrics

    GC_PAUSE.labels("0").observe(0.0001)  # as the watch does after a collection
    api, other_api, worker = ApiMetrics(), ApiMetrics(), WorkerMetrics()  # apps side by side
    for text in (api.render(), other_api.render(), generate_latest(worker.registry)):
        assert b"taskstream_gc_pause_seconds_bucket" in text
