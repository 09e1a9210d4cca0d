"""The `http` task type: its SSRF guard, and calls against a tiny local server."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from taskstream.builtin import http
from taskstream.builtin.http import BODY_LIMIT, HttpStatusError, HttpTask, refusal_reason
from taskstream.registry import NonRetryableError, TaskContext
from taskstream.settings import Settings


@dataclass
class Seen:
    """What the local server received."""

    requests: list[dict[str, Any]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    seen: Seen

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.path.startswith("/status/"):
            self._send(int(self.path.rsplit("/", 1)[1]), b"status body")
        elif self.path == "/big":
            self._send(200, b"a" * (BODY_LIMIT + 1000))
        elif self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(200, json.dumps({"echo": body}).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Secret", "not forwarded")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _ctx() -> TaskContext:
    return TaskContext(task_id="task-1", attempt=2)


def _task(allow_private: bool, **kwargs: Any) -> HttpTask:
    return HttpTask(Settings(http_allow_private=allow_private, http_timeout_seconds=5), **kwargs)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
        "http://0x7f.1:{port}/",
    ],
)
async def test_private_addresses_are_refused_without_a_request(
    server: tuple[str, Seen], url: str
) -> None:
    base, seen = server
    port = base.rsplit(":", 1)[1]
    with pytest.raises(NonRetryableError, match="TASKSTREAM_HTTP_ALLOW_PRIVATE") as info:
        await _task(False)({"url": url.format(port=port)}, _ctx())
    assert "refusing to call" in str(info.value)
    assert seen.requests == []


async def test_a_hostname_is_judged_by_every_address_it_resolves_to() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(NonRetryableError, match=r"10\.0\.0\.7, a private address"):
        await _task(False, resolve=resolve)({"url": "https://hooks.example/x"}, _ctx())


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd"])
async def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(NonRetryableError, match="only http and https"):
        await _task(True)({"url": url}, _ctx())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"url": "http://x/", "json": {"a": 1}, "body": "b"}, "either `json` or `body`"),
        ({"url": "http://x/", "method": "BREW"}, "method"),
        ({"url": "http://x/", "headers": {"Host": "other"}}, "may not set Host"),
        ({"method": "GET"}, "url"),
        ("http://x/", "invalid http payload"),
    ],
)
async def test_bad_payloads_fail_for_good(payload: Any, message: str) -> None:
    with pytest.raises(NonRetryableError, match=message):
        await _task(True)(payload, _ctx())


async def test_allowed_when_the_setting_is_on(server: tuple[str, Seen]) -> None:
    base, seen = server
    payload = {"url": f"{base}/hook", "json": {"n": 1}, "headers": {"X-Team": "billing"}}
    result = await _task(True)(payload, _ctx())
    assert result["status"] == 200
    assert json.loads(result["body"]) == {"echo": '{"n":1}'}
    assert result["body_truncated"] is False
    assert result["headers"]["content-type"] == "application/json"
    assert "x-secret" not in result["headers"]
    (request,) = seen.requests
    assert request["method"] == "POST"
    assert request["headers"]["Host"] == base.removeprefix("http://")
    assert request["headers"]["X-Team"] == "billing"
    assert request["headers"]["Idempotency-Key"] == "task-1:2"
    assert request["headers"]["Content-Type"] == "application/json"


async def test_method_and_text_body(server: tuple[str, Seen]) -> None:
    base, seen = server
    result = await _task(True)({"url": f"{base}/x", "method": "put", "body": "hi"}, _ctx())
    assert result["status"] == 200
    assert (seen.requests[0]["method"], seen.requests[0]["body"]) == ("PUT", "hi")


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_throttling_are_retryable(
    server: tuple[str, Seen], status: int
) -> None:
    base, _ = server
    with pytest.raises(HttpStatusError, match=f"HTTP {status}") as info:
        await _task(True)({"url": f"{base}/status/{status}"}, _ctx())
    assert not isinstance(info.value, NonRetryableError)
    assert "status body" in str(info.value)


@pytest.mark.parametrize("status", [400, 404, 410])
async def test_other_client_errors_are_not_retryable(server: tuple[str, Seen], status: int) -> None:
    base, _ = server
    with pytest.raises(NonRetryableError, match=f"HTTP {status}"):
        await _task(True)({"url": f"{base}/status/{status}"}, _ctx())


async def test_a_long_body_is_cut_to_64_kib_and_marked(server: tuple[str, Seen]) -> None:
    base, _ = server
    result = await _task(True)({"url": f"{base}/big", "method": "GET"}, _ctx())
    assert len(result["body"]) == BODY_LIMIT
    assert result["body_truncated"] is True


async def test_redirects_are_followed_and_each_hop_is_checked(
    server: tuple[str, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    port = int(base.rsplit(":", 1)[1])
    original = http.refusal_reason

    # Pretend the local server is a public host, so only the redirect target is judged.
    def reason(ip: http.IPAddress) -> str | None:
        return None if str(ip) == "127.0.0.1" else original(ip)

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "hooks.example" else ["169.254.169.254"]

    monkeypatch.setattr(http, "refusal_reason", reason)
    task = _task(False, resolve=resolve)
    public = f"http://hooks.example:{port}"

    result = await task({"url": f"{public}/redirect?to=/landed"}, _ctx())
    assert result["status"] == 200
    assert [r["method"] for r in seen.requests] == ["POST", "GET"]  # 302 after POST -> GET
    assert seen.requests[1]["path"] == "/landed"

    seen.requests.clear()
    for target in ("http://169.254.169.254/latest/meta-data", "http://metadata.internal/"):
        with pytest.raises(NonRetryableError, match="link-local"):
            await task({"url": f"{public}/redirect?to={target}"}, _ctx())
    assert [r["path"] for r in seen.requests] == [
        "/redirect?to=http://169.254.169.254/latest/meta-data",
        "/redirect?to=http://metadata.internal/",
    ]
