"""ASGI guards in front of the routes, cheapest first: load shedding, access control (API key,
scope, rate limit), request-size limit. Each turns a request away with a JSON error before
any work is done for it; health probes are never shed and, like /metrics, need no key."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstpitch.serving.metrics import metrics

PROBES = frozenset({"/health/live", "/health/ready"})
SCOPE_OF_PREFIX = (
    ("/api/v1/models", "models"),
    ("/api/v1/predict", "predictions"),
    ("/api/v1/feed", "feed"),
)
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def reject(
    scope: Scope,
    send: Send,
    status: int,
    error: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    rid = (scope.get("state") or {}).get("request_id")
    body = orjson.dumps({"error": error, "message": message, "request_id": rid})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def required_scope(path: str) -> str | None:
    for prefix, scope in SCOPE_OF_PREFIX:
        if path.startswith(prefix):
            return scope
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return str(value.decode("latin-1"))
    return None


def bearer_token(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = _header(scope, b"authorization")
    if auth:
        kind, _, token = auth.strip().partition(" ")
        return token.strip() if kind.lower() == "bearer" and token.strip() else None
    key = _header(scope, b"x-api-key")
    return key.strip() if key and key.strip() else None


class LoadShedder:
    """At most ``limit`` requests in flight in this worker; the rest get 503 at once, so
    accepted requests keep a bounded latency instead of queueing without bound."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            metrics().rejected.labels("shed").inc()
            await reject(
                scope,
                send,
                503,
                "overloaded",
                f"the server is at capacity ({self.limit} requests in flight); retry shortly",
                [(b"retry-after", b"1")],
            )
            return
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class AccessControl:
    """API key (401), scope (403) and per-key rate limit (429) on every /api/ route."""

    def __init__(self, app: ASGIApp, enabled: bool) -> None:
        self.app, self.enabled = app, enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        runtime: Any = getattr(scope["app"].state, "runtime", None)
        if runtime is None:
            await reject(scope, send, 503, "unavailable", "the service is starting; retry shortly",
                         [(b"retry-after", b"1")])  # fmt: skip
            return
        challenge = [(b"www-authenticate", b'Bearer realm="firstpitch"')]
        token = bearer_token(scope)
        if token is None:
            metrics().rejected.labels("unauthenticated").inc()
            await reject(scope, send, 401, "unauthenticated",
                         "an API key is required: send `Authorization: Bearer <key>` or "
                         "`X-API-Key: <key>`", challenge)  # fmt: skip
            return
        key = await runtime.keyring.authenticate(token)
        if key is None:
            metrics().rejected.labels("unauthenticated").inc()
            await reject(scope, send, 401, "unauthenticated", "invalid or revoked API key",
                         challenge)  # fmt: skip
            return
        needed = required_scope(scope["path"])
        if needed is not None and needed not in key.scopes:
            metrics().rejected.labels("forbidden").inc()
            await reject(scope, send, 403, "forbidden",
                         f"this API key lacks the {needed!r} scope this route needs")  # fmt: skip
            return
        decision = await runtime.limiter.check(key)
        if not decision.allowed:
            metrics().rejected.labels("rate_limited").inc()
            await reject(scope, send, 429, "rate_limited",
                         f"rate limit of this API key exceeded; retry in {decision.retry_after_s} s",
                         [(b"retry-after", str(decision.retry_after_s).encode())])  # fmt: skip
            return
        scope.setdefault("state", {})["api_key_id"] = key.key_id
        await self.app(scope, receive, send)


class BodyLimit:
    """Bodies larger than ``max_bytes`` get 413 before any of them is parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        too_large = f"request body larger than {self.max_bytes} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await reject(scope, send, 400, "bad_request", "invalid Content-Length header")
                return
            if int(declared) > self.max_bytes:
                metrics().rejected.labels("too_large").inc()
                await reject(scope, send, 413, "too_large", too_large)
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                metrics().rejected.labels("too_large").inc()
                await reject(scope, send, 413, "too_large", too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
