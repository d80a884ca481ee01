"""Access control: API key (401), scope (403) and per-key rate limit (429) on /api/ routes.

Outside /api/ no key is needed; one that is presented (and valid) still counts, so that,
e.g., ``/health`` can show its details to key holders only. What a request may see is left
in its ASGI state: ``api_key`` (the ``ApiKey``, absent without one) and ``api_scopes``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from firstpitch.api.guards import bearer_token, reject, required_scope
from firstpitch.serving.metrics import metrics
from firstpitch.serving.runtime import ApiRuntime
from storage.api_keys import SCOPES, ApiKey

CHALLENGE = [(b"www-authenticate", b'Bearer realm="firstpitch"')]


def grant(scope: Scope, key: ApiKey | None, scopes: frozenset[str]) -> None:
    state = scope.setdefault("state", {})
    state["api_scopes"] = scopes
    if key is not None:
        state["api_key"], state["api_key_id"] = key, key.key_id


class AccessControl:
    """``runtime`` returns the worker's runtime (None while it starts); ``enabled`` false
    (keys off) grants every request every scope."""

    def __init__(
        self, app: ASGIApp, runtime: Callable[[], ApiRuntime | None], enabled: bool
    ) -> None:
        self.app, self.runtime, self.enabled = app, runtime, enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.enabled:
            grant(scope, None, frozenset(SCOPES))
            await self.app(scope, receive, send)
            return
        rt = self.runtime()
        if not scope["path"].startswith("/api/"):
            token = bearer_token(scope)
            key = await rt.keyring.authenticate(token) if rt and token else None
            grant(scope, key, key.scopes if key else frozenset())
            await self.app(scope, receive, send)
            return
        if rt is None:
            await reject(scope, send, 503, "unavailable", "the service is starting; retry shortly",
                         [(b"retry-after", b"1")])  # fmt: skip
            return
        if await self._admitted(rt, scope, send):
            await self.app(scope, receive, send)

    async def _admitted(self, rt: ApiRuntime, scope: Scope, send: Send) -> bool:
        token = bearer_token(scope)
        if token is None:
            metrics().rejected.labels("unauthenticated").inc()
            await reject(scope, send, 401, "unauthenticated",
                         "an API key is required: send `Authorization: Bearer <key>` or "
                         "`X-API-Key: <key>`", CHALLENGE)  # fmt: skip
            return False
        key = await rt.keyring.authenticate(token)
        if key is None:
            metrics().rejected.labels("unauthenticated").inc()
            await reject(scope, send, 401, "unauthenticated", "invalid or revoked API key",
                         CHALLENGE)  # fmt: skip
            return False
        needed = required_scope(scope["path"])
        if needed is not None and needed not in key.scopes:
            metrics().rejected.labels("forbidden").inc()
            await reject(scope, send, 403, "forbidden",
                         f"this API key lacks the {needed!r} scope this route needs")  # fmt: skip
            return False
        decision = await rt.limiter.check(key)
        if not decision.allowed:
            metrics().rejected.labels("rate_limited").inc()
            await reject(scope, send, 429, "rate_limited",
                         f"rate limit of this API key exceeded; retry in {decision.retry_after_s} s",
                         [(b"retry-after", str(decision.retry_after_s).encode())])  # fmt: skip
            return False
        grant(scope, key, key.scopes)
        return True
