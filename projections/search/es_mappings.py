"""Elasticsearch index names and the index templates that give them explicit mappings.

Tasks live in one physical index per generation (`<prefix>-tasks-<generation>`) behind
the alias `<prefix>-tasks`, so a rebuild fills a fresh index and moves the alias in one
atomic `_aliases` call. Log lines go to daily indices `<prefix>-logs-YYYY.MM.DD` that the
logs template maps and puts behind the alias `<prefix>-logs`. Mappings are `strict`: a
document with a field the mapping does not name is refused, never guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TEMPLATE_PRIORITY = 500  # above the built-in templates (priority 100 and below)

_KEYWORD = {"type": "keyword", "ignore_above": 1024}


def tasks_alias(prefix: str) -> str:
    """The alias every task read and write goes through."""
    return f"{prefix}-tasks"


def tasks_index(prefix: str, generation: str) -> str:
    """The physical tasks index of one generation."""
    return f"{prefix}-tasks-{generation}"


def generation_of(now: datetime) -> str:
    """A generation name that sorts by creation time (`20261127t074512123456`)."""
    return now.astimezone(UTC).strftime("%Y%m%dt%H%M%S%f")


def logs_alias(prefix: str) -> str:
    """The alias over every daily logs index."""
    return f"{prefix}-logs"


def logs_index(prefix: str, at: datetime) -> str:
    """The daily index a log line written at `at` belongs to (UTC date)."""
    return f"{prefix}-logs-{at.astimezone(UTC):%Y.%m.%d}"


def tasks_mappings() -> dict[str, Any]:
    """Mappings of a tasks index."""
    return {
        "dynamic": "strict",
        "properties": {
            "task_id": _KEYWORD,
            "tenant": _KEYWORD,
            "queue": _KEYWORD,
            "type": {**_KEYWORD, "fields": {"text": {"type": "text"}}},
            "status": _KEYWORD,
            "priority": {"type": "byte"},
            "version": {"type": "long"},
            "attempts": {"type": "integer"},
            "created_at": {"type": "date"},
            "updated_at": {"type": "date"},
            # Label keys and values, searchable without a mapping per label key.
            "labels": {"type": "flattened"},
            "labels_text": {"type": "text"},
            "payload_text": {"type": "text"},
            "errors": {"type": "text"},
            # What the search projector folds the next events into; stored, not indexed.
            "state": {"type": "object", "enabled": False},
            "fold": {"type": "object", "enabled": False},
        },
    }


def logs_mappings() -> dict[str, Any]:
    """Mappings of a daily logs index."""
    return {
        "dynamic": "strict",
        "properties": {
            "task_id": _KEYWORD,
            "tenant": _KEYWORD,
            "queue": _KEYWORD,
            "type": _KEYWORD,
            "attempt": {"type": "integer"},
            "seq": {"type": "integer"},
            "at": {"type": "date"},
            "level": _KEYWORD,
            "message": {"type": "text"},
        },
    }


def tasks_template(prefix: str, *, shards: int, replicas: int) -> dict[str, Any]:
    """The composable index template of the tasks indices (`PUT _index_template/<name>`)."""
    return {
        "index_patterns": [f"{prefix}-tasks-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": tasks_mappings(),
        },
        "_meta": {"managed_by": "taskstream", "description": "task documents, one per task"},
    }


def logs_template(prefix: str, *, shards: int, replicas: int) -> dict[str, Any]:
    """The composable index template of the daily logs indices."""
    return {
        "index_patterns": [f"{prefix}-logs-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": logs_mappings(),
            "aliases": {logs_alias(prefix): {}},
        },
        "_meta": {"managed_by": "taskstream", "description": "task log lines, one index a day"},
    }


def templates(prefix: str, *, shards: int, replicas: int) -> dict[str, dict[str, Any]]:
    """Every template by name."""
    return {
        f"{prefix}-tasks": tasks_template(prefix, shards=shards, replicas=replicas),
        f"{prefix}-logs": logs_template(prefix, shards=shards, replicas=replicas),
    }
