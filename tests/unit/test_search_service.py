"""The search loops of the projector service: a refused document does not stop the process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from projections.search.es_bulk import SearchIndexError
from projections.search.service import open_search_loops, run_guarded
from taskstream.settings import Settings


class Scripted:
    """A consumer whose `run` raises the scripted error, or returns."""

    name = "search:test"

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def run(self, stop: asyncio.Event) -> None:
        if self.error is not None:
            raise self.error


async def test_a_refused_document_restarts_the_consumer_from_its_checkpoint() -> None:
    made: list[Scripted] = []
    errors: list[Exception | None] = [SearchIndexError("refused"), SearchIndexError("again"), None]

    def make() -> Any:
        made.append(Scripted(errors.pop(0)))
        return made[-1]

    await run_guarded(make, asyncio.Event(), first_delay=0.0)
    assert len(made) == 3  # two failures, then a clean stop


async def test_other_errors_propagate() -> None:
    def make() -> Any:
        return Scripted(RuntimeError("bug"))

    with pytest.raises(RuntimeError, match="bug"):
        await run_guarded(make, asyncio.Event(), first_delay=0.0)


async def test_no_url_no_search_loops() -> None:
    assert await open_search_loops(Settings(elasticsearch_url=""), pool=None) is None  # type: ignore[arg-type]
