"""Shared aiokafka consumer options (group timeouts that suit both brokers)."""

from __future__ import annotations

from typing import Any

from taskstream.settings import Settings


def group_consumer_options(settings: Settings, group_id: str) -> dict[str, Any]:
    """Options for a consumer-group member with manual commits."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.group_session_timeout_ms,
        "heartbeat_interval_ms": settings.group_heartbeat_ms,
        "rebalance_timeout_ms": settings.group_rebalance_timeout_ms,
        "max_poll_interval_ms": 300_000,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
    }


def background_consumer_options(settings: Settings) -> dict[str, Any]:
    """`plain_consumer_options` with the background long-poll (`fetch_background_wait_ms`),
    for topics whose records may wait a fraction of a second."""
    return {
        **plain_consumer_options(settings),
        "fetch_max_wait_ms": settings.fetch_background_wait_ms,
    }


def plain_consumer_options(settings: Settings) -> dict[str, Any]:
    """Options for a consumer without a group (manual assignment)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
    }
