"""The synchronous client (httpx.Client underneath)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
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
from firstpitch.stream_client import PATH, EventParser, StreamEvent, refusal

if TYPE_CHECKING:
    from firstpitch.api.clock_routes import ClockState, DrivenClock
    from firstpitch.api.feed_routes import FeedAnswer

T = TypeVar("T")


class FirstPitchClient:
    """Every REST operation, typed. ``with FirstPitchClient(url, api_key=...) as fp:``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[Retried], None] | None = None,
        extra_headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._outcome = Outcome(self.retry, on_retry)
        self.http = httpx.Client(base_url=base_url, headers=headers(api_key, extra_headers),
                                 timeout=timeout, transport=transport)  # fmt: skip

    def __enter__(self) -> FirstPitchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, op: ops.Operation[T]) -> T:
        """Send ``op``, retrying as the policy says; the typed result or a typed error."""
        attempt = 0
        while True:
            try:
                response = self.http.request(op.method, op.path, params=op.params, json=op.body)
            except httpx.TransportError as exc:
                outcome: T | Wait = self._outcome.failed(op, exc, attempt)
            else:
                outcome = self._outcome.answered(op, response, attempt)
            if not isinstance(outcome, Wait):
                return outcome
            time.sleep(outcome.seconds)
            attempt += 1

    # ------------------------------------------------------------------ predictions
    def predict(
        self,
        game_id: str,
        *,
        model_name: str | None = None,
        include_explanation: bool = False,
        model_version: str | None = None,
    ) -> PredictionResponse:
        """``model_version``: a challenger's, to be answered by it (default: the champion)."""
        return self.call(ops.predict(game_id, model_name, include_explanation, model_version))

    def predict_batch(
        self,
        game_ids: list[str],
        *,
        model_name: str | None = None,
        include_explanation: bool = False,
        model_version: str | None = None,
    ) -> list[PredictionResponse]:
        return self.call(
            ops.predict_batch(game_ids, model_name, include_explanation, model_version)
        )

    def prediction(self, game_id: str, *, model_name: str | None = None) -> PredictionResponse:
        """The cached or latest logged prediction (``GET /api/v1/predict/{game_id}``)."""
        return self.call(ops.prediction(game_id, model_name))

    def predictions_today(
        self, *, model_name: str | None = None, min_confidence: float | None = None
    ) -> TodayResponse:
        return self.call(ops.predictions_today(model_name, min_confidence))

    # ------------------------------------------------------------------ models
    def active_models(self) -> ActiveModels:
        return self.call(ops.active_models())

    def model(self, name: str, *, model_version: str | None = None) -> ModelDetails:
        return self.call(ops.model(name, model_version))

    def model_performance(
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
        return self.call(ops.model_performance(
            name, model_version=model_version, prediction_type=prediction_type, days=days,
            date_from=date_from, date_to=date_to, run=run))  # fmt: skip

    def leaderboard(
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
        return self.call(ops.leaderboard(
            metric=metric, prediction_type=prediction_type, days=days, limit=limit,
            date_from=date_from, date_to=date_to, run=run))  # fmt: skip

    def recent_predictions(
        self,
        name: str,
        *,
        model_version: str | None = None,
        days: int | None = None,
        limit: int | None = None,
    ) -> RecentPredictions:
        return self.call(ops.recent_predictions(
            name, model_version=model_version, days=days, limit=limit))  # fmt: skip

    # ------------------------------------------------------------------ feed, clock, health
    def feed(self, kind: str, records: list[dict[str, Any]]) -> FeedAnswer:
        """``POST /api/v1/feed/{kind}`` (scope ``feed``)."""
        return self.call(ops.feed(kind, records))

    def clock(self) -> ClockState:
        return self.call(ops.clock())

    def drive_clock(self, now: datetime) -> DrivenClock:
        return self.call(ops.drive_clock(now))

    def health(self) -> Health:
        return self.call(ops.health())

    def ready(self) -> Ready:
        return self.call(ops.ready())

    def live(self) -> Live:
        return self.call(ops.live())

    # ------------------------------------------------------------------ the event stream
    def events(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        last_event_id: str | None = None,
        max_reconnects: int | None = None,
    ) -> Generator[StreamEvent, None, None]:
        """The events of ``GET /api/v1/stream`` (``params``: its query parameters), across
        reconnections, each resuming after the last event id seen (see
        ``firstpitch.client.events``); a new connection starts with a new ``ready``."""
        state = Resumption(params, last_event_id, self.retry, max_reconnects)
        timeout = stream_timeout(self.http.timeout)
        while True:
            try:
                with self.http.stream("GET", PATH, params=state.params, headers=state.headers(),
                                      timeout=timeout) as response:  # fmt: skip
                    if response.status_code != 200:
                        wait = state.after_refusal(refusal(response, response.read()))
                    else:
                        parser = EventParser()
                        for line in response.iter_lines():
                            event = parser.line(line)
                            if event is not None:
                                state.seen(event)
                                yield event
                        again = state.after_close()
                        if again is None:
                            return
                        wait = again
            except httpx.TransportError as exc:
                again = state.after_error(exc)
                if again is None:
                    raise
                wait = again
            time.sleep(wait)
