"""The `http` task type: call a webhook, so teams without a Python worker can use Taskstream.

Payload: `{"url", "method" (POST), "headers", "json" | "body", "timeout_seconds"}`.
Result: `{"status", "headers" (a subset), "body" (text, at most 64 KiB), "body_truncated"}`.
A 5xx or 429 answer fails the attempt so that it is retried; any other non-2xx fails it
for good.

SSRF guard: unless `TASKSTREAM_HTTP_ALLOW_PRIVATE` is on, every address the host resolves to
must be public (not private, loopback, link-local, multicast, reserved, shared or
unspecified). The request then goes to the address that was checked (the URL is rewritten
to the IP, with `Host` and TLS SNI/verification kept on the name), so a second DNS answer
cannot swap it (DNS rebinding). Redirects are followed by hand, at most 5, each hop checked
the same way. Proxies from the environment are ignored (a proxy would do its own lookup).
A fresh client per call: a shared pool keyed by IP could reuse a TLS connection verified
for another name on the same address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urljoin

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taskstream.registry import NonRetryableError, Registry, TaskContext
from taskstream.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

BODY_LIMIT = 64 * 1024
MAX_REDIRECTS = 5
_KEPT_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "location",
    "etag",
    "last-modified",
    "retry-after",
    "date",
    "x-request-id",
)
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpPayload(BaseModel):
    """What an `http` task asks for."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    url: str = Field(min_length=1, max_length=8192)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)
    json_: Any = Field(None, alias="json")
    body: str | None = None
    timeout_seconds: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            return {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _one_body(self) -> HttpPayload:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give either `json` or `body`, not both")
        if any(name.lower() in ("host", "content-length") for name in self.headers):
            raise ValueError("headers may not set Host or Content-Length")
        return self


def refusal_reason(ip: IPAddress) -> str | None:
    """Why the guard refuses to call `ip`, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 form that embeds an IPv4 address is judged by that address.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return refusal_reason(embedded)
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return label
    if not ip.is_global:
        return "not globally routable"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """Every A/AAAA answer for `host`, via the event loop's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def pick_address(url: httpx.URL, *, allow_private: bool, resolve: Resolver) -> str:
    """The address to connect to for `url`, after the SSRF checks (raises NonRetryableError)."""
    if url.scheme not in ("http", "https"):
        raise NonRetryableError(f"only http and https URLs are allowed, not {url.scheme!r}")
    host = url.host
    if not host:
        raise NonRetryableError(f"URL has no host: {url}")
    port = url.port or (443 if url.scheme == "https" else 80)
    literal = _ip_literal(host)
    if literal is not None:
        answers = [literal]
    else:
        try:
            resolved = await resolve(host, port)
        except OSError as exc:
            # Retryable: a resolver hiccup should not fail the task for good.
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        if not answers:
            raise OSError(f"cannot resolve {host}: no addresses")
    if not allow_private:
        for ip in answers:
            reason = refusal_reason(ip)
            if reason is not None:
                raise NonRetryableError(
                    f"refusing to call {host}: it resolves to {ip}, a {reason} address; "
                    "set TASKSTREAM_HTTP_ALLOW_PRIVATE=true to allow private addresses"
                )
    return str(answers[0])


def _pinned_request(
    client: httpx.AsyncClient,
    url: httpx.URL,
    ip: str,
    method: str,
    headers: dict[str, str],
    content: bytes | None,
) -> httpx.Request:
    target = url.copy_with(host=ip)
    host_header = url.netloc.decode("ascii")
    request = client.build_request(
        method, target, headers={**headers, "Host": host_header}, content=content
    )
    if url.scheme == "https":
        # Certificate checks and SNI stay on the name although we connect to the address.
        request.extensions["sni_hostname"] = url.host
    return request


def _redirect(
    response: httpx.Response, url: httpx.URL, method: str, content: bytes | None
) -> tuple[httpx.URL, str, bytes | None, bool] | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    target = httpx.URL(urljoin(str(url), location))
    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
        method, content = ("HEAD" if method == "HEAD" else "GET"), None
    same_origin = (target.scheme, target.host, target.port) == (url.scheme, url.host, url.port)
    return target, method, content, same_origin


async def _read_body(response: httpx.Response) -> tuple[str, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > BODY_LIMIT:
            break
    raw = b"".join(chunks)
    truncated = len(raw) > BODY_LIMIT
    text = raw[:BODY_LIMIT].decode(response.encoding or "utf-8", errors="replace")
    return text, truncated


class HttpTask:
    """The `http` handler, bound to the worker's settings."""

    def __init__(self, settings: Settings, *, resolve: Resolver = system_resolve) -> None:
        self._allow_private = settings.http_allow_private
        self._max_timeout = settings.http_timeout_seconds
        self._resolve = resolve

    async def __call__(self, payload: Any, ctx: TaskContext) -> dict[str, Any]:
        """Call the URL; the answer's status, some headers and the (bounded) body."""
        try:
            spec = HttpPayload.model_validate(payload)
        except ValidationError as exc:
            raise NonRetryableError(f"invalid http payload: {exc}".replace("\n", " ")) from exc
        timeout = min(spec.timeout_seconds or self._max_timeout, self._max_timeout)
        content: bytes | None = None
        headers = dict(spec.headers)
        if spec.json_ is not None:
            content = orjson.dumps(spec.json_)
            headers.setdefault("Content-Type", "application/json")
        elif spec.body is not None:
            content = spec.body.encode()
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        try:
            url = httpx.URL(spec.url)
        except httpx.InvalidURL as exc:
            raise NonRetryableError(f"invalid url {spec.url!r}: {exc}") from exc
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(url, spec.method, headers, content, ctx, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"http call to {url.host} timed out after {timeout:g}s") from exc

    async def _exchange(
        self,
        url: httpx.URL,
        method: str,
        headers: dict[str, str],
        content: bytes | None,
        ctx: TaskContext,
        timeout: float,
    ) -> dict[str, Any]:
        client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout)
        async with client:
            for hop in range(MAX_REDIRECTS + 1):
                ip = await pick_address(
                    url, allow_private=self._allow_private, resolve=self._resolve
                )
                request = _pinned_request(client, url, ip, method, headers, content)
                response = await client.send(request, stream=True)
                try:
                    nxt = _redirect(response, url, method, content)
                    if nxt is None:
                        body, truncated = await _read_body(response)
                        break
                finally:
                    await response.aclose()
                if hop == MAX_REDIRECTS:
                    raise NonRetryableError(f"more than {MAX_REDIRECTS} redirects, last to {url}")
                url, method, content, same_origin = nxt
                if not same_origin:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                ctx.log(f"redirected ({response.status_code}) to {url}")
        return _outcome(response, body, truncated)


def _outcome(response: httpx.Response, body: str, truncated: bool) -> dict[str, Any]:
    status = response.status_code
    if not 200 <= status < 300:
        snippet = body[:500] + ("…" if len(body) > 500 else "")
        message = f"HTTP {status} from {response.request.headers.get('host')}: {snippet}"
        if status >= 500 or status == 429:
            raise HttpStatusError(message)
        raise NonRetryableError(message)
    kept = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
    return {"status": status, "headers": kept, "body": body, "body_truncated": truncated}


class HttpStatusError(Exception):
    """A retryable non-2xx answer (5xx, 429)."""


def register(registry: Registry, settings: Settings) -> None:
    """Add the `http` task type to `registry`."""
    registry.register("http", HttpTask(settings))
