"""The Taskstream services (api, scheduler, worker, projector) as child specs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from taskstream.stack import health
from taskstream.stack.config import StackOptions
from taskstream.stack.process import ChildSpec


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the services find the infrastructure and where clients find the API."""

    kafka_bootstrap: str
    postgres_dsn: str
    redis_url: str
    api_host: str
    api_port: int

    @property
    def api_url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.api_host}:{self.api_port}"


def service_env(options: StackOptions, endpoints: Endpoints, api_key: str) -> dict[str, str]:
    """The supervisor's environment (every `TASKSTREAM_*` included) plus the stack's endpoints."""
    keys = [api_key, *(k.strip() for k in options.settings.api_keys.split(",") if k.strip())]
    env = dict(os.environ)
    env.update(
        {
            "TASKSTREAM_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
            "TASKSTREAM_POSTGRES_DSN": endpoints.postgres_dsn,
            "TASKSTREAM_REDIS_URL": endpoints.redis_url,
            "TASKSTREAM_API_HOST": endpoints.api_host,
            "TASKSTREAM_API_PORT": str(endpoints.api_port),
            "TASKSTREAM_API_URL": endpoints.api_url,
            "TASKSTREAM_API_KEYS": ",".join(dict.fromkeys(keys)),
            "TASKSTREAM_DATA_DIR": str(options.data_dir),
            # Log lines must reach the log file as they happen, not when a buffer fills.
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _argv(name: str, options: StackOptions) -> list[str]:
    argv = [sys.executable, "-m", "taskstream", name]
    if name == "worker":
        argv += ["--queues", ",".join(options.worker_queues)]
        argv += ["--concurrency", str(options.worker_concurrency)]
        for module in options.worker_tasks:
            argv += ["--tasks", module]
    return argv


def service_spec(name: str, options: StackOptions, env: dict[str, str], ep: Endpoints) -> ChildSpec:
    """One service child; the api is healthy when `/healthz` answers 200, the others when alive."""
    probe = None
    if name == "api":
        url = f"{ep.api_url}/healthz"

        async def probe() -> bool:
            return await health.http_ok(url)

    return ChildSpec(
        name=name,
        argv=_argv(name, options),
        kind="service",
        env=env,
        health=probe,
        # Long enough to outlive an import error or a bad setting, which fail in ~1 s.
        settle_seconds=2.0,
        start_timeout=options.start_timeout,
        stop_timeout=15.0,
        port=ep.api_port if name == "api" else None,
    )
