"""What both clients share: the connection settings, the headers, and how one try of an
operation ends (a result, an error to raise, or a wait before the next try)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from firstpitch import __version__
from firstpitch.client import errors
from firstpitch.client.operations import Operation
from firstpitch.client.retry import RetryPolicy

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 10.0
# A stream is quiet between events, but the service sends a heartbeat after 15 s of
# silence (FIRSTPITCH_STREAM_HEARTBEAT_S): a stream silent this long has been lost.
STREAM_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Retried:
    """Passed to ``on_retry`` before each wait: the try that failed (0 first), its status
    (None: no connection), and how long the client waits now."""

    operation: str
    attempt: int
    status: int | None
    wait_s: float


def headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    out = {"User-Agent": f"firstpitch-client/{__version__}", **(extra or {})}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def stream_timeout(timeout: httpx.Timeout) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeout.connect, read=STREAM_READ_TIMEOUT_S, write=timeout.write, pool=timeout.pool
    )


@dataclass(frozen=True)
class Wait:
    seconds: float


class Outcome:
    """How one try ended: the result, a ``Wait`` before the next try, or an error raised."""

    def __init__(self, policy: RetryPolicy, on_retry: Callable[[Retried], None] | None) -> None:
        self.policy, self.on_retry = policy, on_retry

    def answered(self, op: Operation[T], response: httpx.Response, attempt: int) -> T | Wait:
        """The result, or the wait; raises the API's error when not retried."""
        if response.status_code in op.ok:
            return op.result.validate_json(response.content)
        error = errors.from_response(response, attempts=attempt + 1)
        wait = self.policy.after_status(response.status_code, error.retry_after_s, attempt)
        if wait is None:
            raise error
        self._tell(op, attempt, response.status_code, wait)
        return Wait(wait)

    def failed(self, op: Operation[Any], exc: httpx.TransportError, attempt: int) -> Wait:
        wait = self.policy.after_error(exc, attempt)
        if wait is None:
            raise errors.ConnectionFailed(
                f"{op.method} {op.path}: {type(exc).__name__}: {exc}"
            ) from exc
        self._tell(op, attempt, None, wait)
        return Wait(wait)

    def _tell(self, op: Operation[Any], attempt: int, status: int | None, wait: float) -> None:
        if self.on_retry is not None:
            self.on_retry(Retried(f"{op.method} {op.path}", attempt, status, wait))
