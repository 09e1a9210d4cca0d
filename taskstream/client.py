"""`taskstream.Client`: submit, cancel and follow tasks over REST, or straight onto the log.

    async with Client.rest("http://127.0.0.1:8000", api_key) as client:
        task_id = await client.submit("emails.send", {"to": "ada@example.com"}, priority=7)
        task = await client.wait(task_id, timeout=60)

`Client.kafka(bootstrap, tenant=...)` has the same submit/cancel API and publishes the
commands itself, validated with the model the scheduler uses (see docs/producers.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from taskstream.domain.errors import TaskstreamError

if TYPE_CHECKING:
    from taskstream.settings import Settings

TERMINAL = frozenset({"succeeded", "dead", "cancelled"})
# Options of one task, as `submit` takes them and as `submit_many` items name them.
_OPTIONS = frozenset(
    {"type", "payload", "queue", "priority", "max_attempts", "timeout", "run_at", "delay"}
    | {"labels", "idempotency_key"}
)


class TaskstreamAPIError(TaskstreamError):
    """The API refused a request: its RFC 9457 problem document, unpacked."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []


def task_body(item: Mapping[str, Any]) -> dict[str, Any]:
    """A task's options (the arguments of `Client.submit`) as the REST submit body."""
    unknown = set(item) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown task options: {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {"type": item["type"], "payload": item.get("payload")}
    body["labels"] = dict(item.get("labels") or {})
    # Omitted fields stay omitted: the task type's defaults, else the global ones, apply.
    for name in ("queue", "priority", "max_attempts"):
        if item.get(name) is not None:
            body[name] = item[name]
    if item.get("timeout") is not None:
        body["timeout_seconds"] = _seconds(item["timeout"])
    if item.get("run_at") is not None:
        run_at = item["run_at"]
        body["run_at"] = run_at.isoformat() if isinstance(run_at, datetime) else run_at
    if item.get("delay") is not None:
        body["delay_seconds"] = _seconds(item["delay"])
    if item.get("idempotency_key"):
        body["idempotency_key"] = item["idempotency_key"]
    return body


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class _Transport(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def submit(self, bodies: list[dict[str, Any]]) -> list[str]: ...
    async def cancel(self, task_id: str, reason: str) -> None: ...


class _Rest:
    """Commands and reads over the REST API."""

    def __init__(self, http: httpx.AsyncClient, batch_size: int) -> None:
        self.http = http
        self.batch_size = batch_size

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self.http.request(method, path, json=body)
        if resp.is_success:
            return resp.json()
        raise _api_error(resp)

    async def submit(self, bodies: list[dict[str, Any]]) -> list[str]:
        if len(bodies) == 1:
            return [(await self.call("POST", "/v1/tasks", bodies[0]))["id"]]
        ids: list[str] = []
        for start in range(0, len(bodies), self.batch_size):
            chunk = bodies[start : start + self.batch_size]
            answer = await self.call("POST", "/v1/tasks:batch", {"tasks": chunk})
            ids += [item["id"] for item in answer["items"]]
        return ids

    async def cancel(self, task_id: str, reason: str) -> None:
        await self.call("POST", f"/v1/tasks/{task_id}/cancel", {"reason": reason})


def _api_error(resp: httpx.Response) -> TaskstreamAPIError:
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return TaskstreamAPIError(resp.status_code, resp.reason_phrase, resp.text[:500] or None)
    return TaskstreamAPIError(
        int(doc.get("status") or resp.status_code),
        str(doc.get("title") or resp.reason_phrase),
        doc.get("detail"),
        doc.get("errors"),
    )


class Client:
    """Submit and cancel tasks; over REST also read them and wait for them to finish."""

    def __init__(self, transport: _Transport) -> None:
        self._transport = transport

    @classmethod
    def rest(
        cls,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        batch_size: int = 1000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Client:
        """A client of the REST API at `api_url`; `submit_many` sends `batch_size` per request."""
        http = httpx.AsyncClient(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )
        return cls(_Rest(http, batch_size))

    @classmethod
    def kafka(
        cls, bootstrap: str, *, tenant: str = "default", settings: Settings | None = None
    ) -> Client:
        """A client that publishes onto the commands topic at `bootstrap` for `tenant`."""
        from taskstream.client_kafka import KafkaTransport
        from taskstream.settings import Settings

        base = settings or Settings()
        return cls(KafkaTransport(base.model_copy(update={"kafka_bootstrap": bootstrap}), tenant))

    async def __aenter__(self) -> Client:
        await self._transport.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection (flushing what the Kafka producer still holds)."""
        await self._transport.close()

    async def submit(
        self,
        type: str,
        payload: Any = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | timedelta | None = None,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Submit one task; return its id once the command is in the log."""
        options = {
            "type": type,
            "payload": payload,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "timeout": timeout,
            "run_at": run_at,
            "delay": delay,
            "labels": labels,
            "idempotency_key": idempotency_key,
        }
        (task_id,) = await self._transport.submit([task_body(options)])
        return task_id

    async def submit_many(self, tasks: Iterable[Mapping[str, Any]]) -> list[str]:
        """Submit tasks given as mappings of `submit`'s arguments; their ids, in order.

        Over REST each batch request is all-or-nothing (`POST /v1/tasks:batch`).
        """
        bodies = [task_body(t) for t in tasks]
        return await self._transport.submit(bodies) if bodies else []

    async def cancel(self, task_id: str, reason: str = "") -> None:
        """Ask to cancel a task (the scheduler records a refusal in its events)."""
        await self._transport.cancel(task_id, reason)

    async def get(self, task_id: str) -> dict[str, Any]:
        """The task as the read model has it (REST only)."""
        task: dict[str, Any] = await self._rest().call("GET", f"/v1/tasks/{task_id}")
        return task

    async def wait(self, task_id: str, timeout: float = 60.0, poll: float = 0.25) -> dict[str, Any]:
        """Wait until the task is succeeded, dead or cancelled (REST only); TimeoutError after."""
        rest = self._rest()
        deadline = time.monotonic() + timeout
        while True:
            try:
                task: dict[str, Any] = await rest.call("GET", f"/v1/tasks/{task_id}")
            except TaskstreamAPIError as exc:
                if exc.status != 404:  # 404: not projected yet
                    raise
            else:
                if task.get("status") in TERMINAL:
                    return task
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} is not finished after {timeout:g} s")
            await asyncio.sleep(poll)

    def _rest(self) -> _Rest:
        if not isinstance(self._transport, _Rest):
            raise TypeError("reads need the REST API: use Client.rest(...)")
        return self._transport
