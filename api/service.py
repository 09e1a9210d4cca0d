"""`run(settings)`: serve the API with uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from taskstream.settings import Settings

STARTUP_FAILURE = 3


class _Server(uvicorn.Server):
    """uvicorn ignores signals while the app starts; pass them on so startup can stop."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        request_stop: Callable[[], None] | None = getattr(self._app.state, "request_stop", None)
        if request_stop is not None:
            request_stop()


def run(settings: Settings) -> None:
    """Serve on `settings.api_host`:`settings.api_port`; blocks until SIGINT/SIGTERM."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        # None keeps the process's logging (configured by the CLI) as it is.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        # Longer than clients' idle pools, so a reused connection is not closed under
        # them mid-request (uvicorn's 5 s default races with busy clients).
        timeout_keep_alive=75,
        # The sans-I/O WebSocket protocol: back-pressure on send, no deprecated legacy API.
        ws="websockets-sansio",
    )
    server = _Server(config, app)
    asyncio.run(server.serve())
    if not server.started:
        # Startup failed (uvicorn logged why): exit non-zero so a supervisor restarts us.
        raise SystemExit(STARTUP_FAILURE)
