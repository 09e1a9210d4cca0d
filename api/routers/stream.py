"""`/v1/stream`: live tails of task events and log lines, over SSE and WebSocket.

Message format, resume semantics and limits: docs/live-tails.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from api.auth import READ, Principal
from api.deps import AdaptersDep, ReaderDep, rate_limit
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.tails.cursor import CursorError
from api.tails.filters import FilterError, TailFilter
from api.tails.hub import TooSlow
from api.tails.service import Subscription, TailService, TooManyStreams

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/stream", tags=["stream"])

# WebSocket close codes (4000-4999 are the application's).
WS_BAD_REQUEST = 4400
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_TOO_SLOW = 4008
WS_TOO_MANY = 4029
WS_INTERNAL = 1011
SUBSCRIBE_WAIT_SECONDS = 30.0
CLOSE_WAIT_SECONDS = 5.0

Opt = Annotated[str | None, Query(max_length=200)]
LastEventId = Annotated[
    str | None, Header(alias="Last-Event-ID", description="The last cursor received: resume.")
]
CursorQuery = Annotated[
    str | None, Query(max_length=8192, description="Resume after this cursor (as Last-Event-ID).")
]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def tails_of(app: Any) -> TailService:
    """The app's tail service."""
    service: TailService = app.state.tails
    return service


async def _open(
    request: Request,
    principal: Principal,
    adapters: AdaptersDep,
    flt: TailFilter,
    cursor: str | None,
) -> Subscription:
    try:
        return await tails_of(request.app).subscribe(
            tenant=principal.tenant,
            key_id=principal.key_id,
            flt=flt,
            cursor=cursor,
            lookup=adapters.read_model,
        )
    except CursorError as exc:
        raise invalid(FieldError(field="cursor", message=str(exc))) from exc
    except TooManyStreams as exc:
        raise ProblemError(
            429, str(exc), slug="too-many-streams", limit=exc.limit, headers={"Retry-After": "1"}
        ) from exc


def _sse(event: str, data: bytes, cursor: str | None = None) -> bytes:
    head = f"id: {cursor}\n".encode() if cursor else b""
    return head + f"event: {event}\n".encode() + b"data: " + data + b"\n\n"


async def _sse_body(sub: Subscription, idle: float) -> AsyncIterator[bytes]:
    name = "event" if sub.stream == "events" else "log"
    try:
        yield b"retry: 1000\n\n"
        yield _sse("subscribed", orjson.dumps({"cursor": sub.cursor()}), sub.cursor())
        async for out in sub.messages(idle):
            if out is None:
                yield b": keep-alive\n\n"
            else:
                yield _sse(name, out, sub.cursor())  # the cursor in `out`
    except TooSlow as exc:
        yield _sse("error", orjson.dumps({"error": "client_too_slow", "detail": str(exc)}))
    finally:
        sub.close()


def _filter(**fields: Any) -> TailFilter:
    try:
        return TailFilter(**fields)
    except FilterError as exc:
        raise invalid(FieldError(field="filter", message=str(exc))) from exc


@router.get(
    "/events",
    summary="Live tail of task events (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(422, 429)},
)
async def stream_events(
    request: Request,
    principal: ReaderDep,
    adapters: AdaptersDep,
    task_id: Opt = None,
    queue: Opt = None,
    type: Opt = None,
    status: Opt = None,
    cursor: CursorQuery = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """The tenant's events as they are appended; resume with `Last-Event-ID` (a cursor)."""
    flt = _filter(stream="events", task_id=task_id, queue=queue, type=type, status=status)
    sub = await _open(request, principal, adapters, flt, last_event_id or cursor)
    idle = request.app.state.settings.tail_keepalive_seconds
    return StreamingResponse(
        _sse_body(sub, idle), media_type="text/event-stream", headers=SSE_HEADERS
    )


@router.get(
    "/logs",
    summary="Live tail of a task's log lines (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(422, 429)},
)
async def stream_logs(
    request: Request,
    principal: ReaderDep,
    adapters: AdaptersDep,
    task_id: Annotated[str, Query(min_length=1, max_length=200)],
    cursor: CursorQuery = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """A task's log lines as workers write them; resume with `Last-Event-ID` (a cursor)."""
    flt = _filter(stream="logs", task_id=task_id)
    sub = await _open(request, principal, adapters, flt, last_event_id or cursor)
    idle = request.app.state.settings.tail_keepalive_seconds
    return StreamingResponse(
        _sse_body(sub, idle), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def _ws_principal(ws: WebSocket) -> Principal | None:
    adapters = getattr(ws.app.state, "adapters", None)
    if adapters is None:
        return None
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    key = token.strip() if scheme.lower() == "bearer" else ""
    key = key or ws.query_params.get("api_key", "")
    principal: Principal | None = await adapters.keys.lookup(key) if key else None
    return principal


def _ws_filter(raw: Any) -> tuple[TailFilter, str | None]:
    spec = raw.get("subscribe") if isinstance(raw, dict) else None
    if not isinstance(spec, dict):
        raise FilterError('send {"subscribe": {"stream": "events" | "logs", ...}}')
    allowed = {"stream", "task_id", "queue", "type", "status", "cursor"}
    if unknown := set(spec) - allowed:
        raise FilterError(f"unknown subscribe fields: {sorted(unknown)}")
    if spec.get("stream") not in ("events", "logs"):
        raise FilterError('stream must be "events" or "logs"')
    if any(v is not None and not isinstance(v, str) for v in spec.values()):
        raise FilterError("subscribe fields must be strings")
    cursor = spec.pop("cursor", None)
    return TailFilter(**spec), cursor


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason[:120]), CLOSE_WAIT_SECONDS)


@router.websocket("/ws")
async def stream_ws(ws: WebSocket) -> None:
    """WebSocket tail: authenticate, send one `subscribe` message, receive messages."""
    await ws.accept()
    principal = await _ws_principal(ws)
    if principal is None:
        return await _close(ws, WS_UNAUTHORIZED, "send a valid API key (Bearer or ?api_key=)")
    try:
        await rate_limit(ws.app.state.adapters, ws.app.state.metrics, principal)
    except ProblemError as exc:
        return await _close(ws, WS_TOO_MANY, exc.detail)
    if not principal.can(READ):
        return await _close(ws, WS_FORBIDDEN, f"the API key lacks the scope {READ!r}")
    try:
        request = await asyncio.wait_for(ws.receive_json(), SUBSCRIBE_WAIT_SECONDS)
        flt, cursor = _ws_filter(request)
        sub = await tails_of(ws.app).subscribe(
            tenant=principal.tenant,
            key_id=principal.key_id,
            flt=flt,
            cursor=cursor,
            lookup=ws.app.state.adapters.read_model,
        )
    except WebSocketDisconnect:
        return None
    except TimeoutError:
        return await _close(ws, WS_BAD_REQUEST, "no subscribe message in time")
    except (FilterError, ValueError) as exc:  # CursorError and bad JSON are ValueErrors
        return await _close(ws, WS_BAD_REQUEST, str(exc))
    except TooManyStreams as exc:
        return await _close(ws, WS_TOO_MANY, str(exc))
    except Exception as exc:  # the broker is unreachable, or the tail is still catching up
        log.warning("tail not opened", extra={"error": repr(exc)})
        return await _close(ws, WS_INTERNAL, "the live tail is unavailable; retry shortly")
    try:
        await _serve_ws(ws, sub)
    finally:
        sub.close()
    return None


async def _serve_ws(ws: WebSocket, sub: Subscription) -> None:
    async def pump() -> None:
        await ws.send_text(orjson.dumps({"subscribed": {"cursor": sub.cursor()}}).decode())
        async for out in sub.messages():
            if out is not None:
                await ws.send_text(out.decode())

    async def listen() -> None:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass  # one subscription per connection: later messages are ignored

    tasks = {
        asyncio.ensure_future(pump()),
        asyncio.ensure_future(listen()),
        asyncio.ensure_future(sub.subscriber.overflowed.wait()),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if sub.subscriber.overflowed.is_set():
        await _close(ws, WS_TOO_SLOW, str(TooSlow(sub.subscriber.behind)))
        return
    for t in done:
        exc = None if t.cancelled() else t.exception()
        if isinstance(exc, RuntimeError):  # the server's protocol closed it (ping timeout)
            log.info("tail connection closed under it", extra={"error": repr(exc)})
        elif exc is not None and not isinstance(exc, WebSocketDisconnect):
            log.warning("tail failed", extra={"error": repr(exc)})
            await _close(ws, WS_INTERNAL, "the tail failed; reconnect with your last cursor")
