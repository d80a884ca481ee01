"""A typed Python client of firstpitch's REST API, synchronous and asynchronous.

    from firstpitch.client import FirstPitchClient

    with FirstPitchClient("http://127.0.0.1:3000", api_key="fpk_…") as fp:
        p = fp.predict("CIN202107040", include_explanation=True)   # a PredictionResponse
        today = fp.predictions_today(min_confidence=0.55)           # a TodayResponse
        for event in fp.events({"type": ["prediction", "odds"]}):   # resumes by itself
            ...

``AsyncFirstPitchClient`` has the same methods, awaited (``async for`` over ``events``).
Results are the API's own pydantic models (``firstpitch.api.schemas``). Failures raise
``firstpitch.client.errors`` exceptions carrying the API's error code, message and request
id; 429 and 503 are retried after their ``Retry-After`` (``RetryPolicy``).
"""

from __future__ import annotations

from firstpitch.client.async_client import AsyncFirstPitchClient
from firstpitch.client.base import Retried
from firstpitch.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    FirstPitchError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from firstpitch.client.retry import NO_RETRIES, RetryPolicy
from firstpitch.client.sync_client import FirstPitchClient
from firstpitch.stream_client import StreamEvent

__all__ = [
    "NO_RETRIES",
    "ApiError",
    "AsyncFirstPitchClient",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "FirstPitchClient",
    "FirstPitchError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "Retried",
    "RetryPolicy",
    "ServerError",
    "StreamEvent",
    "TooLarge",
    "Unauthenticated",
    "Unavailable",
]
