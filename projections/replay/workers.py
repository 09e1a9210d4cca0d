"""Replay in several processes: each worker owns some partitions of both topics.

A task's events, state and log lines live on one partition number, so workers over
disjoint partitions never write the same row; each commits its rows with its own
partitions' checkpoints, in the shared shadow schema. The parent follows their progress
through those checkpoints and takes over once they are done.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from projections.replay import schema as sc

if TYPE_CHECKING:
    from projections.replay.rebuild import Replayer

POLL_SECONDS = 0.5


def split(partitions: list[int], workers: int) -> list[list[int]]:
    """Partitions dealt round-robin to `workers` (pure); empty shares are dropped."""
    shares = [partitions[i::workers] for i in range(workers)]
    return [s for s in shares if s]


async def run_workers(r: Replayer, targets: dict[str, dict[int, int]], workers: int) -> None:
    """Replay up to `targets` in `workers` child processes; raise if one fails."""
    parts = sorted({p for s in r.streams for p in s.done})
    procs = []
    for share in split(parts, workers):
        doc = {
            "settings": r.settings.model_dump(mode="json"),
            "replay": r.replay.model_dump(mode="json"),
            "schema": r.schema,
            "archive_keyed": r.applier.archive_keyed,
            "partitions": share,
            "targets": {
                name: {str(p): o for p, o in t.items() if p in share} for name, t in targets.items()
            },
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "projections.replay.workers",
                json.dumps(doc),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    waits = [asyncio.create_task(p.communicate()) for p in procs]
    try:
        while not all(w.done() for w in waits):
            await asyncio.wait(waits, timeout=POLL_SECONDS)
            await _report(r)
        for proc, w in zip(procs, waits, strict=True):
            out, err = w.result()
            if proc.returncode != 0:
                tail = err.decode(errors="replace")[-2000:]
                raise RuntimeError(f"a replay worker exited {proc.returncode}:\n{tail}")
            counts = json.loads(out.decode().strip().splitlines()[-1])
            r.applier.fold_errors += counts["fold_errors"]
            for s in r.streams:
                s.undecodable += counts["undecodable"].get(s.name, 0)
                s.refused += counts["refused"].get(s.name, 0)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _report(r: Replayer) -> None:
    if r.progress is None or r.shadow is None:
        return
    for s in r.streams:
        done = await sc.read_checkpoints(r.shadow, r.schema, s.projection)
        r.progress(s.name, sum(o + 1 for o in done.values()), _known(s))


def _known(s: Any) -> int:
    return sum(s.reader.highwaters().values())


async def _work(doc: dict[str, Any]) -> None:
    from projections.replay.config import ReplaySettings
    from projections.replay.rebuild import Replayer
    from taskstream.settings import Settings

    r = Replayer(Settings(**doc["settings"]), doc["schema"], replay=ReplaySettings(**doc["replay"]))
    try:
        await r.open(create=False, partitions=set(doc["partitions"]))
        r.applier.archive_keyed = doc.get("archive_keyed", True)
        targets = {name: {int(p): o for p, o in t.items()} for name, t in doc["targets"].items()}
        await r.bulk_catch_up(targets)
        counts = {
            "undecodable": {s.name: s.undecodable for s in r.streams},
            "refused": {s.name: s.refused for s in r.streams},
            "fold_errors": r.applier.fold_errors,
        }
        print(json.dumps(counts), flush=True)
    finally:
        await r.close()


def main() -> None:
    """A worker process: `python -m projections.replay.workers '<json>'`."""
    from taskstream.gc_tuning import tune_gc
    from taskstream.settings import Settings

    doc = json.loads(sys.argv[1])
    tune_gc(Settings(**doc["settings"]), rebuild=True)
    asyncio.run(_work(doc))


if __name__ == "__main__":
    main()
