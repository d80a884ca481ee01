"""What the ASGI guards in front of the routes share: the JSON refusal, which scope a route
needs, and the API key a request presents. The guards themselves, cheapest first: access
control (``access.py``), load shedding (``shedding.py``), the request body (``body_limit.py``)."""

from __future__ import annotations

import re

import orjson
from starlette.datastructures import Headers
from starlette.types import Scope, Send

PROBES = frozenset({"/health/live", "/health/ready"})
STREAM = "/api/v1/stream"  # long-lived: a budget of its own (shedding.py), no body
SCOPE_OF_PREFIX = (
    ("/api/v1/models", "models"),
    ("/api/v1/predict", "predictions"),
    ("/api/v1/bento", "predictions"),  # the BentoML-native operations (bento_ops.py)
    ("/api/v1/feed", "feed"),
    ("/api/v1/clock", "feed"),
    (STREAM, "predictions"),
)
# Checked before the prefixes: operations under a prefix that need another scope.
SCOPE_OF_PATTERN = (
    # replaying a record recomputes a model's answer: a models operation
    (re.compile(r"^/api/v1/predictions/records/[^/]+/replay$"), "models"),
)


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
    for pattern, needed in SCOPE_OF_PATTERN:
        if pattern.match(path):
            return needed
    for prefix, scope in SCOPE_OF_PREFIX:
        if path.startswith(prefix):
            return scope
    return None


def bearer_token(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    headers = Headers(scope=scope)
    auth = headers.get("authorization")
    if auth:
        kind, _, token = auth.strip().partition(" ")
        return token.strip() if kind.lower() == "bearer" and token.strip() else None
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None
