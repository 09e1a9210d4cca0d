"""The idle fetch wait: longer only after a quiet spell, back at once when records come."""

from __future__ import annotations

from taskstream.fetch_idle import IdleWait


def _wait() -> IdleWait:
    return IdleWait(base_ms=10, idle_ms=50, idle_after=1.0, last_records=100.0)


def test_a_consumer_keeps_its_wait_until_the_quiet_spell_is_over() -> None:
    w = _wait()
    assert w.next_wait(False, 100.5) == 10
    assert w.next_wait(False, 100.999) == 10
    assert w.next_wait(False, 101.0) == 50
    assert w.next_wait(False, 500.0) == 50


def test_records_bring_the_wait_back_and_restart_the_quiet_spell() -> None:
    w = _wait()
    assert w.next_wait(False, 102.0) == 50
    assert w.next_wait(True, 102.1) == 10
    assert w.next_wait(False, 102.9) == 10
    assert w.next_wait(False, 103.1) == 50


def test_a_longer_wait_of_its_own_is_kept() -> None:
    w = IdleWait(base_ms=200, idle_ms=50, idle_after=1.0, last_records=0.0)
    assert w.next_wait(False, 10.0) == 200
