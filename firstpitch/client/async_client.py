"""The asynchronous client (httpx.AsyncClient underneath)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from firstpitch.api.model_schemas import (
    ActiveModels,
    Leaderboard,
    ModelDetails,
    ModelPerformance,
    RecentPredictions,
)
from firstpitch.api.schemas import Health, Live, PredictionResponse, Ready, TodayResponse
from firstpitch.client import operations as ops
from firstpitch.client.base import (
    DEFAULT_TIMEOUT_S,
    Outcome,
    Retried,
    Wait,
    headers,
    stream_timeout,
)
from firstpitch.client.events import Resumption
from firstpitch.client.retry import RetryPolicy
from firstpitch.stream_client import StreamEvent, StreamRefused, stream_events

if TYPE_CHECKING:
    from firstpitch.api.clock_routes import ClockState, DrivenClock
    from firstpitch.api.feed_routes import FeedAnswer

T = TypeVar("T")


class AsyncFirstPitchClient:
    """Every REST operation, typed. ``async with AsyncFirstPitchClient(url, api_key=...) as fp:``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[Retried], None] | None = None,
        extra_headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._outcome = Outcome(self.retry, on_retry)
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers(api_key, extra_headers),
                                 timeout=timeout, transport=transport)  # fmt: skip

    async def __aenter__(self) -> AsyncFirstPitchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, op: ops.Operation[T]) -> T:
        """Send ``op``, retrying as the policy says; the typed result or a typed error."""
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    op.method, op.path, params=op.params, json=op.body
                )
            except httpx.TransportError as exc:
                outcome: T | Wait = self._outcome.failed(op, exc, attempt)
            else:
                outcome = self._outcome.answered(op, response, attempt)
            if not isinstance(outcome, Wait):
                return outcome
            await asyncio.sleep(outcome.seconds)
            attempt += 1

    # ------------------------------------------------------------------ predictions
    async def predict(
        self,
        game_id: str,
        *,
        model_name: str | None = None,
        include_explanation: bool = False,
        model_version: str | None = None,
    ) -> PredictionResponse:
        """``model_version``: a challenger's, to be answered by it (default: the champion)."""
        return await self.call(ops.predict(game_id, model_name, include_explanation, model_version))

    async def predict_batch(
        self,
        game_ids: list[str],
        *,
        model_name: str | None = None,
        include_explanation: bool = False,
        model_version: str | None = None,
    ) -> list[PredictionResponse]:
        return await self.call(
            ops.predict_batch(game_ids, model_name, include_explanation, model_version)
        )

    async def prediction(
        self, game_id: str, *, model_name: str | None = None
    ) -> PredictionResponse:
        """The cached or latest logged prediction (``GET /api/v1/predict/{game_id}``)."""
        return await self.call(ops.prediction(game_id, model_name))

    async def predictions_today(
        self, *, model_name: str | None = None, min_confidence: float | None = None
    ) -> TodayResponse:
        return await self.call(ops.predictions_today(model_name, min_confidence))

    # ------------------------------------------------------------------ models
    async def active_models(self) -> ActiveModels:
        return await self.call(ops.active_models())

    async def model(self, name: str, *, model_version: str | None = None) -> ModelDetails:
        return await self.call(ops.model(name, model_version))

    async def model_performance(
        self,
        name: str,
        *,
        model_version: str | None = None,
        prediction_type: str | None = None,
        days: int | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        run: str | None = None,
    ) -> ModelPerformance:
        return await self.call(ops.model_performance(
            name, model_version=model_version, prediction_type=prediction_type, days=days,
            date_from=date_from, date_to=date_to, run=run))  # fmt: skip

    async def leaderboard(
        self,
        *,
        metric: str | None = None,
        prediction_type: str | None = None,
        days: int | None = None,
        limit: int | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        run: str | None = None,
    ) -> Leaderboard:
        return await self.call(ops.leaderboard(
            metric=metric, prediction_type=prediction_type, days=days, limit=limit,
            date_from=date_from, date_to=date_to, run=run))  # fmt: skip

    async def recent_predictions(
        self,
        name: str,
        *,
        model_version: str | None = None,
        days: int | None = None,
        limit: int | None = None,
    ) -> RecentPredictions:
        return await self.call(ops.recent_predictions(
            name, model_version=model_version, days=days, limit=limit))  # fmt: skip

    # ------------------------------------------------------------------ feed, clock, health
    async def feed(self, kind: str, records: list[dict[str, Any]]) -> FeedAnswer:
        """``POST /api/v1/feed/{kind}`` (scope ``feed``)."""
        return await self.call(ops.feed(kind, records))

    async def clock(self) -> ClockState:
        return await self.call(ops.clock())

    async def drive_clock(self, now: datetime) -> DrivenClock:
        return await self.call(ops.drive_clock(now))

    async def health(self) -> Health:
        return await self.call(ops.health())

    async def ready(self) -> Ready:
        return await self.call(ops.ready())

    async def live(self) -> Live:
        return await self.call(ops.live())

    # ------------------------------------------------------------------ the event stream
    async def events(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        last_event_id: str | None = None,
        max_reconnects: int | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of ``GET /api/v1/stream`` (``params``: its query parameters), across
        reconnections, each resuming after the last event id seen (see
        ``firstpitch.client.events``); a new connection starts with a new ``ready``."""
        state = Resumption(params, last_event_id, self.retry, max_reconnects)
        timeout = stream_timeout(self.http.timeout)
        while True:
            try:
                async for event in stream_events(self.http, state.params, state.last_event_id,
                                                 http_timeout=timeout):  # fmt: skip
                    state.seen(event)
                    yield event
                again = state.after_close()
                if again is None:
                    return
                wait = again
            except StreamRefused as refused:
                wait = state.after_refusal(refused)
            except httpx.TransportError as exc:
                again = state.after_error(exc)
                if again is None:
                    raise
                wait = again
            await asyncio.sleep(wait)
