"""A small REST client for the CLI: where the API is, its key, and readable errors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    import httpx

err_console = Console(stderr=True)

DEFAULT_API_URL = "http://127.0.0.1:8000"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def default_data_dir() -> Path:
    """`TASKSTREAM_DATA_DIR`, else `.taskstream` (the settings default, without loading them)."""
    return Path(os.environ.get("TASKSTREAM_DATA_DIR") or ".taskstream")


@dataclass(frozen=True, slots=True)
class ApiTarget:
    """Base URL and key of the API the CLI talks to."""

    url: str
    key: str | None


def resolve_target(api_url: str | None, api_key: str | None, data_dir: Path | None) -> ApiTarget:
    """Flags first, then `TASKSTREAM_API_URL`/`TASKSTREAM_API_KEY`, then the local stack.json."""
    url = api_url or os.environ.get("TASKSTREAM_API_URL")
    key = api_key or os.environ.get("TASKSTREAM_API_KEY")
    if url is None or key is None:
        stack_json = (data_dir or default_data_dir()) / "stack.json"
        try:
            stack = json.loads(stack_json.read_text())
        except (OSError, ValueError):
            stack = {}
        url = url or stack.get("api_url")
        key = key or stack.get("api_key")
    return ApiTarget((url or DEFAULT_API_URL).rstrip("/"), key)


def problem_text(status: int, body: Any, fallback: str) -> str:
    """An RFC 9457 problem document (or any error body) as a few readable lines."""
    if not isinstance(body, dict):
        return f"HTTP {status}: {fallback.strip() or 'no details'}"
    title = body.get("title") or "request failed"
    lines = [f"{title} (HTTP {body.get('status', status)})"]
    if body.get("detail"):
        lines.append(str(body["detail"]))
    for error in body.get("errors") or []:
        lines.append(f"  - {_error_line(error)}")
    return "\n".join(lines)


def _error_line(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = error.get("loc") or error.get("field") or error.get("pointer") or error.get("name")
    if isinstance(where, list):
        where = ".".join(str(part) for part in where if part != "body")
    message = error.get("msg") or error.get("message") or error.get("detail") or error
    return f"{where}: {message}" if where else str(message)


class ApiClient:
    """Synchronous JSON calls against the API; every failure ends the command readably."""

    def __init__(self, target: ApiTarget, timeout: float = 10.0) -> None:
        import httpx

        self.target = target
        headers = {"Accept": "application/json", "User-Agent": "taskstream-cli"}
        if target.key:
            # Both spellings, so the CLI works whichever scheme the deployment enables.
            headers["Authorization"] = f"Bearer {target.key}"
            headers["X-API-Key"] = target.key
        self._http = httpx.Client(
            base_url=target.url, headers=headers, timeout=timeout, trust_env=False
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def call(
        self, method: str, path: str, body: Any = None, *, allow: tuple[int, ...] = ()
    ) -> tuple[int, Any]:
        """(status, parsed JSON) of one request; statuses in `allow` are returned, not fatal."""
        response = self._send(method, path, body)
        try:
            data: Any = response.json() if response.content else None
        except ValueError:
            data = None
        if response.is_success or response.status_code in allow:
            return response.status_code, data
        fail(problem_text(response.status_code, data, response.text))

    def _send(self, method: str, path: str, body: Any) -> httpx.Response:
        import httpx

        try:
            return self._http.request(method, path, json=body)
        except httpx.ConnectError:
            fail(f"cannot reach the API at {self.target.url}; is the stack running? (`make dev`)")
        except httpx.TimeoutException:
            fail(f"the API at {self.target.url} did not answer in time")
        except httpx.HTTPError as exc:
            fail(f"request to {self.target.url}{path} failed: {exc}")
