"""Load shedding: a bounded number of requests in flight per worker, the rest 503 at once.

Two budgets, so that traffic without a valid key cannot use up the API's: requests that
passed access control to an /api/ route share ``Capacity.limit``; everything else (/health,
unknown paths, BentoML's own routes) shares the small ``Capacity.open_limit``. Event streams
(``GET /api/v1/stream``) stay open for as long as their clients listen, so they never count
against either: keyed streams have a budget of their own, ``Capacity.stream_limit``. The
liveness and readiness probes are never shed; readiness reports the API budget's saturation.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from firstpitch.api.guards import PROBES, STREAM, reject
from firstpitch.serving.metrics import metrics

SATURATED_FOR_S = 2.0  # readiness stays 503 this long after the API budget last shed


class Capacity:
    """The in-flight counts of one worker, shared by the shedder and the readiness probe."""

    def __init__(self, limit: int, open_limit: int, stream_limit: int = 1000) -> None:
        self.limit, self.open_limit, self.stream_limit = limit, open_limit, stream_limit
        self.in_flight = self.open_in_flight = self.peak = self.streams = 0
        self.last_shed = -SATURATED_FOR_S

    def saturated(self) -> bool:
        """True while the API budget is full or has shed a request in the last moments."""
        recent = time.monotonic() - self.last_shed < SATURATED_FOR_S
        return self.in_flight >= self.limit or recent


class LoadShedder:
    """At most ``capacity.limit`` keyed API requests (and ``open_limit`` others) in flight;
    beyond that 503 ``overloaded`` with Retry-After, so accepted requests keep a bounded
    latency instead of queueing without bound. ``keyed`` false (no API keys): every /api/
    request counts as an API request."""

    def __init__(self, app: ASGIApp, capacity: Capacity, keyed: bool) -> None:
        self.app, self.capacity, self.keyed = app, capacity, keyed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        state = scope.get("state") or {}
        api = scope["path"].startswith("/api/") and (not self.keyed or "api_key" in state)
        cap = self.capacity
        if api and scope["path"] == STREAM:
            await self._stream(scope, receive, send)
            return
        if api:
            if cap.in_flight >= cap.limit:
                cap.last_shed = time.monotonic()
                await self._shed(scope, send, cap.limit)
                return
            cap.in_flight += 1
            cap.peak = max(cap.peak, cap.in_flight)
        else:
            if cap.open_in_flight >= cap.open_limit:
                await self._shed(scope, send, cap.open_limit)
                return
            cap.open_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if api:
                cap.in_flight -= 1
            else:
                cap.open_in_flight -= 1

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        cap = self.capacity
        if cap.streams >= cap.stream_limit:
            await self._shed(scope, send, cap.stream_limit, "open event streams")
            return
        cap.streams += 1
        try:
            await self.app(scope, receive, send)
        finally:
            cap.streams -= 1

    @staticmethod
    async def _shed(scope: Scope, send: Send, limit: int, what: str = "requests in flight") -> None:
        metrics().rejected.labels("shed").inc()
        await reject(scope, send, 503, "overloaded",
                     f"the server is at capacity ({limit} {what}); retry shortly",
                     [(b"retry-after", b"1")])  # fmt: skip
