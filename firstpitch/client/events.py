"""Following ``GET /api/v1/stream`` across connections: where to resume (the last event id
seen, sent as ``Last-Event-ID``) and whether to reconnect after a connection ends.

A stream ends for good when the caller bounded it (``max_seconds``) and the service says
so, or on a refusal that retrying cannot change (401, 403, 422). It is resumed after the
service ends it otherwise (``end``: ``shutdown``, ``slow_consumer``, the service's own
``FIRSTPITCH_STREAM_MAX_SECONDS``), after a dropped connection (a network error, a response
cut short, a read timeout: the heartbeat stopped), and after a 429 or 503 (after the
``Retry-After`` it gives). Consecutive failed attempts back off; an event received resets
the count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from firstpitch.client import errors
from firstpitch.client.retry import RetryPolicy
from firstpitch.stream_client import StreamEvent, StreamRefused

BOUNDED_END = "max_seconds"


class Resumption:
    """``max_reconnects`` None: reconnect for as long as the stream is followed."""

    def __init__(
        self,
        params: Mapping[str, Any] | None,
        last_event_id: str | None,
        policy: RetryPolicy,
        max_reconnects: int | None,
    ) -> None:
        self.params = dict(params or {})
        after = self.params.pop("after", None)  # resumed by the header from here on
        self.last_event_id, self.policy = last_event_id or after, policy
        self.bounded = "max_seconds" in self.params
        self.max_reconnects, self.reconnects, self.failures = max_reconnects, 0, 0
        self.ended: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    def seen(self, event: StreamEvent) -> None:
        self.failures = 0
        if event.id is not None:
            self.last_event_id = event.id
        if event.event == "end" and isinstance(event.data, dict):
            self.ended = str(event.data.get("reason"))

    def after_close(self) -> float | None:
        """The connection ended (cleanly, or cut: ``ended`` tells): seconds to wait before
        reconnecting, or None to stop."""
        reason, self.ended = self.ended, None
        if reason == BOUNDED_END and self.bounded:
            return None
        if reason is None:  # cut short without an ``end``: dropped
            self.failures += 1
        return self._again(self.policy.backoff(self.failures) if self.failures else 0.0)

    def after_error(self, exc: httpx.TransportError) -> float | None:
        self.failures += 1
        return self._again(self.policy.backoff(self.failures))

    def after_refusal(self, refused: StreamRefused) -> float:
        """The wait after a 429 or 503; raises the API's error for the others."""
        wait = errors.retry_after(refused.headers)
        error = errors.from_body(refused.status, refused.body, wait)
        if refused.status not in (429, 503) or (wait or 0) > self.policy.max_retry_after_s:
            raise error
        self.failures += 1
        again = self._again(wait if wait is not None else self.policy.backoff(self.failures))
        if again is None:
            raise error
        return again

    def _again(self, wait: float) -> float | None:
        if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
            return None
        self.reconnects += 1
        return wait
