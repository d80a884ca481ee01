"""When a call is tried again: on 503 and 429 (the service refused it before doing anything)
and when the connection could not be made, with exponential backoff and jitter, waiting what
``Retry-After`` asks where the answer gives it."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

RETRIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries``: tries after the first. ``backoff_s`` doubles each time up to
    ``max_backoff_s`` (with jitter: half to all of it). A ``Retry-After`` longer than
    ``max_retry_after_s`` is not waited for: the error is raised at once (a key out of its
    minute's budget should not block a caller for a minute unless it asked to)."""

    retries: int = 3
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    max_retry_after_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        return random.uniform(0.5, 1.0) * ceiling

    def after_status(self, status: int, retry_after_s: float | None, attempt: int) -> float | None:
        """Seconds to wait before trying again after answer ``status`` to try number
        ``attempt`` (0 for the first), or None: raise."""
        if status not in RETRIED_STATUSES or attempt >= self.retries:
            return None
        if retry_after_s is None:
            return self.backoff(attempt)
        return retry_after_s if retry_after_s <= self.max_retry_after_s else None

    def after_error(self, exc: httpx.TransportError, attempt: int) -> float | None:
        """Only a connection that was never made is retried: a request that may have
        reached the service is not sent twice."""
        connect = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return self.backoff(attempt) if connect and attempt < self.retries else None


NO_RETRIES = RetryPolicy(retries=0)
