"""The pure parts of rebuild and restore: progress math, switch plans, gap filling, targets."""

from __future__ import annotations

import pytest

from projections.replay.progress import Rate, eta_seconds, format_eta, records_total
from projections.replay.restore import fill_plan
from projections.replay.schema import (
    SwitchPlan,
    ident,
    plan_switch,
    remaining,
    switch_statements,
)
from projections.replay.targets import TARGETS, TargetUnavailable, resolve


def test_totals_come_from_high_watermarks_and_start_offsets() -> None:
    assert records_total({0: 10, 1: 5, 2: 0}, {}) == 15
    assert records_total({0: 10, 1: 5}, {0: 4, 1: 9}) == 6


def test_rate_is_measured_over_a_sliding_window() -> None:
    rate = Rate(window=5.0)
    assert rate.per_second() == 0.0
    rate.add(0.0, 0)
    rate.add(1.0, 1000)
    assert rate.per_second() == 1000.0
    for t in range(2, 20):
        rate.add(float(t), 1000 + (t - 1) * 50_000)  # much faster later on
    assert rate.per_second() == pytest.approx(50_000.0)


def test_eta_and_its_format() -> None:
    assert eta_seconds(500, 1500, 100.0) == 10.0
    assert eta_seconds(1500, 1500, 0.0) == 0.0
    assert eta_seconds(10, 1500, 0.0) is None
    assert format_eta(None) == "?"
    assert format_eta(65.4) == "1:05"
    assert format_eta(3 * 3600 + 62) == "3:01:02"


def test_remaining_counts_records_up_to_targets_inclusive() -> None:
    assert remaining({0: 9, 1: 4}, {}) == 15
    assert remaining({0: 9, 1: 4}, {0: 9, 1: 1}) == 3
    assert remaining({0: 9}, {0: 12}) == 0


def test_switch_swaps_what_was_rebuilt_and_leaves_the_rest_live() -> None:
    plan = plan_switch(
        ["tasks", "task_events", "projection_checkpoints", "schema_migrations", "api_keys"],
        rebuilt=["tasks", "task_events"],
    )
    assert plan == SwitchPlan(
        swapped=("projection_checkpoints", "task_events", "tasks"), kept=("api_keys",)
    )
    sql = switch_statements(plan, "public", "replay_1", "public_old_1")
    assert sql[0] == 'CREATE SCHEMA "public_old_1"'
    assert sql[1] == (
        'ALTER TABLE IF EXISTS "public"."projection_checkpoints" SET SCHEMA "public_old_1"'
    )
    assert sql[2] == 'ALTER TABLE "replay_1"."projection_checkpoints" SET SCHEMA "public"'
    assert len(sql) == 1 + 2 * 3


def test_identifiers_are_checked_before_they_reach_sql() -> None:
    assert ident("replay_2026") == '"replay_2026"'
    for bad in ("Public", 'x"; drop table tasks; --', "", "a" * 64):
        with pytest.raises(ValueError, match="plain schema or table name"):
            ident(bad)


def test_restore_fills_every_offset_the_archive_lacks() -> None:
    assert fill_plan([0, 1, 2], 2) == [0, 1, 2]
    assert fill_plan([0, 2, 5], 6) == [0, None, 1, None, None, 2, None]
    assert fill_plan([], 1) == [None, None]
    assert fill_plan([], -1) == []


def test_targets_resolve_or_say_they_are_not_in_this_build() -> None:
    assert set(TARGETS) == {"postgres", "search", "redis"}
    assert resolve("postgres").__name__ == "rebuild_postgres"
    with pytest.raises(TargetUnavailable, match="unknown target"):
        resolve("mongo")
    for name in ("search", "redis"):
        try:
            fn = resolve(name)
        except TargetUnavailable as exc:
            assert "not available in this build" in str(exc)
        else:
            assert callable(fn)


def test_projection_lag_is_the_first_checkpoint_sample_covering_the_record() -> None:
    from bench.lag import lags_ms

    samples = {0: [(10.0, 4), (10.5, 9)], 1: [(11.0, 0)]}
    records = [(0, 3, 9_900), (0, 5, 10_000), (0, 10, 10_400), (1, 0, 10_990), (2, 0, 1)]
    assert lags_ms(records, samples) == [100.0, 500.0, 10.0]


def test_partitions_are_dealt_round_robin_to_workers() -> None:
    from projections.replay.workers import split

    assert split([0, 1, 2, 3, 4], 2) == [[0, 2, 4], [1, 3]]
    assert split([0, 1], 4) == [[0], [1]]


def test_staged_task_rows_are_upserted_with_the_projectors_version_guard() -> None:
    from projections.postgres import _UPSERT_TASKS
    from projections.replay.apply import _FROM_STAGE, TASK_COLUMNS

    assert "FROM replay_stage_tasks" in _FROM_STAGE
    assert _FROM_STAGE.split("ON CONFLICT")[1] == _UPSERT_TASKS.split("ON CONFLICT")[1]
    assert _FROM_STAGE.strip().endswith("WHERE tasks.version < EXCLUDED.version")
    assert all(f'"{c}"' in _FROM_STAGE for c in TASK_COLUMNS)
