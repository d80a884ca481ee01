"""What a failed call raises: one exception per kind of refusal, carrying the API's error
code, message and request id (the ``{error, message, request_id, details}`` body)."""

from __future__ import annotations

from typing import Any

import httpx


class FirstPitchError(Exception):
    """Anything the client raises for a call that did not succeed."""


class ConnectionFailed(FirstPitchError):
    """The service could not be reached (or the connection broke), after any retries."""


class ApiError(FirstPitchError):
    """The service answered with an error. ``code`` is the API's ``error`` field
    (``rate_limited``, ``unknown_game``, ``validation_error``, …); ``attempts`` how many
    requests were sent (retries included)."""

    status = 0

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
        retry_after_s: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.request_id, self.details = request_id, details
        self.retry_after_s, self.attempts = retry_after_s, attempts


class BadRequest(ApiError):
    """400: a malformed request (e.g. a bad Content-Length)."""


class Unauthenticated(ApiError):
    """401: no API key, or an invalid or revoked one."""


class Forbidden(ApiError):
    """403: the key lacks the scope the operation needs."""


class NotFound(ApiError):
    """404: unknown game, model or prediction."""


class Conflict(ApiError):
    """409: not predictable yet (more than 36 h before first pitch), or a cutoff refusal."""


class TooLarge(ApiError):
    """413: the request body is too large."""


class InvalidRequest(ApiError):
    """422: the request failed validation; ``details`` name each location and reason."""


class RateLimited(ApiError):
    """429: the key's rate limit (or its open streams); ``retry_after_s`` says when to retry."""


class ServerError(ApiError):
    """500 and other 5xx: the request id locates the failure in the service's logs."""


class Unavailable(ApiError):
    """503: overloaded, starting, or a dependency (Redis, PostgreSQL, models) down."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: BadRequest,
    408: BadRequest,
    409: Conflict,
    413: TooLarge,
    422: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
}


def retry_after(response: httpx.Response | httpx.Headers) -> float | None:
    """``Retry-After`` in seconds (the service sends whole seconds), if it is given."""
    headers = response.headers if isinstance(response, httpx.Response) else response
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def from_response(response: httpx.Response, attempts: int = 1) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text.strip()[:200] or response.reason_phrase
    return from_body(response.status_code, body, retry_after(response), attempts)


def from_body(
    status: int, body: Any, retry_after_s: float | None = None, attempts: int = 1
) -> ApiError:
    """The error for an answer ``status`` with ``body`` (the JSON error, or a text)."""
    kind = BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return kind(status, "http_error", str(body)[:200], retry_after_s=retry_after_s,
                    attempts=attempts)  # fmt: skip
    return kind(status, body["error"], str(body.get("message", "")), body.get("request_id"),
                body.get("details"), retry_after_s, attempts)  # fmt: skip
