"""Task types every worker runs: `demo.*` for trying things out, `http` for webhooks."""

from __future__ import annotations

from taskstream.builtin import demo, http
from taskstream.registry import Registry
from taskstream.settings import Settings


def builtin_registry(settings: Settings) -> Registry:
    """A registry holding the built-in task types, configured from `settings`."""
    registry = Registry()
    demo.register(registry)
    http.register(registry, settings)
    return registry
