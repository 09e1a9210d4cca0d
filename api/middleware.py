"""Pure ASGI middleware: the request body limit and the last-resort 500 answer."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import FieldError, ProblemError, render
from taskstream.producer import new_id

log = logging.getLogger(__name__)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        f"the request body is larger than {limit} bytes; nothing was written",
        slug="body-too-large",
        title="Request body too large",
        errors=[FieldError(field="body", message=f"must be at most {limit} bytes", limit=limit)],
    )


class BodyLimit:
    """Refuse bodies over `limit` bytes with a 413 before the app sees a byte of them.

    A declared Content-Length over the limit is refused without reading the body; a body
    without one (chunked) is counted as it streams and refused as soon as it passes the
    limit. A body within the limit is buffered (at most `limit` bytes) and replayed.

    No `Connection: close` on the 413: closing with the client's bytes unread makes the
    kernel send a reset that can destroy the answer before the client reads it. The
    server discards the rest instead, bounded by its keep-alive timeout.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send, declared=declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, declared=declared)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, declared: int | None
    ) -> None:
        log.info(
            "request body over the limit",
            extra={"path": scope["path"], "limit": self.limit, "content_length": declared},
        )
        await render(_too_large(self.limit), scope["path"])(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, pass through so the app still learns of a disconnect.
        return await receive()

    return replay


class ErrorGuard:
    """Answer an unhandled exception with a 500 problem that hides internals; log it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            error_id = new_id()
            log.exception(
                "unhandled error",
                extra={"error_id": error_id, "path": scope["path"], "method": scope["method"]},
            )
            if started:
                raise
            problem = ProblemError(
                500,
                f"an internal error occurred; it was logged as {error_id}",
                slug="internal",
                error_id=error_id,
            )
            await render(problem, scope["path"])(scope, receive, send)
