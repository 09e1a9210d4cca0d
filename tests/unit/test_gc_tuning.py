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


def test_the_replay_path_makes_no_reference_cycles() -> None:
    # `rebuild_gc_threshold`'s default lets no collection run inside a replayed batch;
    # that leaks nothing only while decoding, folding and building the rows of a batch
    # leave no cyclic garbage behind. Two batches: the second folds onto stored states.
    from projections.fold import fold_batch
    from projections.postgres import Positioned
    from projections.queue_models import stat_part
    from projections.queue_stats import fold_stats
    from projections.replay.apply import attempt_records, event_record, task_record
    from projections.search.pg_index import search_rows
    from projections.synthetic import stream
    from taskstream.codec import decode, encode
    from taskstream.domain.state import TaskState

    raw = [encode(ev) for ev in stream(300, seed=5)]
    half = len(raw) // 2
    gc.collect()
    gc.disable()
    try:
        stored: dict[str, TaskState] = {}
        rows = 0
        for chunk in (raw[:half], raw[half:]):
            items = [Positioned(decode(r), 0, offset) for offset, r in enumerate(chunk)]
            result = fold_batch(stored, [i.event for i in items])
            states = list(result.changed.values())
            rows += len([event_record(i) for i in items])
            rows += len([task_record(s) for s in states]) + len(attempt_records(states))
            rows += len(search_rows(stored, states, max_chars=1000))
            rows += len(stat_part(fold_stats(result.transitions)))
            stored.update(result.changed)
        assert rows > len(raw)
        assert gc.collect() == 0
    finally:
        gc.enable()
