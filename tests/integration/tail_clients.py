"""Clients of the live tails for the integration tests: WebSocket, SSE, an in-process API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from api.app import create_app
from api.auth import ALL_SCOPES, Principal
from api.ports import Adapters
from api.testing import RecordingSink
from projections.read import ReadModel
from taskstream.producer import CommandProducer, make_command
from taskstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def ws_url(api_url: str) -> str:
    """The WebSocket tail URL of an API."""
    return api_url.replace("http://", "ws://", 1) + "/v1/stream/ws"


@contextlib.asynccontextmanager
async def ws_tail(
    api_url: str, key: str, subscribe: dict[str, Any], **options: Any
) -> AsyncIterator[ClientConnection]:
    """A subscribed WebSocket whose `subscribed` acknowledgement was read."""
    headers = {"Authorization": f"Bearer {key}"}
    async with connect(ws_url(api_url), additional_headers=headers, **options) as ws:
        await ws.send(orjson.dumps({"subscribe": subscribe}).decode())
        ack = orjson.loads(await ws.recv())
        assert "subscribed" in ack, ack
        yield ws


async def sse_messages(
    client: httpx.AsyncClient, path: str, *, params: dict[str, str], last_id: str | None = None
) -> AsyncIterator[tuple[str, str | None, dict[str, Any]]]:
    """(event, id, data) of every SSE message of a stream, until it ends."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    async with client.stream("GET", path, params=params, headers=headers, timeout=None) as resp:
        assert resp.status_code == 200, await resp.aread()
        event, ident, data = "message", None, b""
        async for line in resp.aiter_lines():
            if line == "":
                if data:
                    yield event, ident, orjson.loads(data)
                event, ident, data = "message", None, b""
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data = line[6:].encode()


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, sndbuf: int | None = None) -> AsyncIterator[str]:
    """Serve `app` on a free local port in this event loop; yields its URL.

    `sndbuf` shrinks the kernel send buffer of accepted connections, so a client that
    does not read blocks the server after a few messages instead of a few megabytes.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        ws_ping_interval=None,  # a client that never reads must meet the queue limit, not a ping
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def small_receive_socket(api_url: str, rcvbuf: int = 4096) -> socket.socket:
    """A connected socket with a small receive buffer (a client that reads slowly)."""
    host, port = api_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


def start_worker(stack: dict[str, Any], queue: str) -> subprocess.Popen[bytes]:
    """A worker process for `queue` on the stack (as the spine tests start one)."""
    env = {**os.environ, "TASKSTREAM_KAFKA_BOOTSTRAP": stack["kafka_bootstrap"]}
    env["PYTHONPATH"] = str(ROOT)
    log = Path(stack["data_dir"]) / f"test-worker-{queue}.log"
    cmd = [sys.executable, "-m", "taskstream", "worker", "--queues", queue, "--concurrency", "32"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class TwoTenants:
    """Keys of two tenants (API keys per tenant do not exist yet: see docs/live-tails.md)."""

    keys = {
        "key-default": Principal("default", ALL_SCOPES, "k-default"),
        "key-acme": Principal("acme", ALL_SCOPES, "k-acme"),
        "key-acme-2": Principal("acme", ALL_SCOPES, "k-acme-2"),
    }

    async def lookup(self, key: str) -> Principal | None:
        return self.keys.get(key)


@contextlib.asynccontextmanager
async def own_api(stack: dict[str, Any], **settings: Any) -> AsyncIterator[tuple[FastAPI, str]]:
    """An API in this process on the stack's broker and read model, with two tenants' keys."""
    s = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"], postgres_dsn=stack["postgres_dsn"], **settings
    )
    pool = await asyncpg.create_pool(stack["postgres_dsn"], min_size=1, max_size=4)
    try:
        adapters = Adapters(read_model=ReadModel(pool), commands=RecordingSink(), keys=TwoTenants())
        app = create_app(s, deps=adapters)
        async with serve(app, sndbuf=4096) as url:
            yield app, url
    finally:
        await pool.close()


async def submit_direct(
    stack: dict[str, Any], bodies: list[dict[str, Any]], *, tenant: str = "default"
) -> list[str]:
    """Publish submit commands straight onto the commands topic, as a producer service may.

    Much faster than REST on a loaded machine; the tails see the same events either way.
    """
    producer = CommandProducer(Settings(kafka_bootstrap=stack["kafka_bootstrap"]))
    await producer.start()
    try:
        commands = [
            make_command("task.submit", str(uuid.uuid4()), body, tenant=tenant) for body in bodies
        ]
        await producer.append_many(commands)
        return [c.task_id for c in commands]
    finally:
        await producer.stop()
