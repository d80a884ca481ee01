"""The request body: only where an operation takes one, at most ``max_bytes``, and within
``timeout_s``. A client that announces a body and sends it a byte a second would otherwise
hold a slot of the worker for as long as it likes."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstpitch.api.guards import reject
from firstpitch.serving.metrics import metrics

CLOSE = [(b"connection", b"close")]  # the rest of an unread body is not waited for


class BodyLimit:
    """Refuses, before reading it, a body sent to an operation that takes none (413) or
    declared larger than ``max_bytes`` (413); reads the others whole, within ``timeout_s``
    (408 past it), and hands them on. A body sent to no operation at all (an unknown path or
    method) is not read either: the router's 404 or 405 goes out at once, and the
    connection is closed. ``takes_body``: the (method, path template) pairs with a body;
    ``routes``: every operation."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float,
        takes_body: Collection[tuple[str, str]],
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s
        self.takes_body, self.routes = frozenset(takes_body), tuple(routes)
        # Operations with a body and a path parameter (``/api/v1/feed/{kind}``) are matched
        # by their route; the others by their exact path.
        self._templated = tuple(
            r for r in self.routes
            if "{" in getattr(r, "path", "")
            and any((m, getattr(r, "path", "")) in self.takes_body for m in getattr(r, "methods", ()) or ())
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            await reject(scope, send, 400, "bad_request", "invalid Content-Length header", CLOSE)
            return
        announced = "transfer-encoding" in headers or int(declared or 0) > 0
        if not self._takes_body(scope):
            if not announced:
                await self.app(scope, receive, send)
            elif self._operation(scope):
                metrics().rejected.labels("too_large").inc()
                await reject(scope, send, 413, "too_large",
                             "this operation takes no request body", CLOSE)  # fmt: skip
            else:
                await self.app(scope, _no_body, _closing(send))
            return
        if declared is not None and int(declared) > self.max_bytes:
            metrics().rejected.labels("too_large").inc()
            await reject(scope, send, 413, "too_large", self._too_large(), CLOSE)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            metrics().rejected.labels("body_timeout").inc()
            await reject(scope, send, 408, "request_timeout",
                         f"the request body did not arrive within {self.timeout_s:g} s",
                         CLOSE)  # fmt: skip
            return
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            metrics().rejected.labels("too_large").inc()
            await reject(scope, send, 413, "too_large", self._too_large(), CLOSE)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _takes_body(self, scope: Scope) -> bool:
        if (scope["method"], scope["path"]) in self.takes_body:
            return True
        return any(route.matches(scope)[0] == Match.FULL for route in self._templated)

    def _operation(self, scope: Scope) -> bool:
        """Whether the route the router would take is a documented operation (a hidden one
        only answers 405, like ``GET /api/v1/predict/batch``)."""
        for route in self.routes:
            if route.matches(scope)[0] == Match.FULL:
                return bool(getattr(route, "include_in_schema", True))
        return False

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body; stops counting past the limit (None if the client left)."""
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            chunks.append(chunk)
            if total > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _closing(send: Send) -> Send:
    async def send_and_close(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *CLOSE]}
        await send(message)

    return send_and_close
