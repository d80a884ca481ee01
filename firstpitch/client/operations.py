"""Every REST operation as a request to send and the API's own model to read the answer
into; the synchronous and the asynchronous client send the same ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import TypeAdapter

from firstpitch.api.model_schemas import (
    ActiveModels,
    Leaderboard,
    ModelDetails,
    ModelPerformance,
    RecentPredictions,
)
from firstpitch.api.schemas import Health, Live, PredictionResponse, Ready, TodayResponse

if TYPE_CHECKING:  # beside their routes: imported when first used (they import the server)
    from firstpitch.api.clock_routes import ClockState, DrivenClock
    from firstpitch.api.feed_routes import FeedAnswer

T = TypeVar("T")


@dataclass(frozen=True)
class Operation(Generic[T]):
    method: str
    path: str
    result: TypeAdapter[T]
    params: dict[str, Any] | None = None
    body: Any = None
    ok: tuple[int, ...] = (200,)  # statuses whose body is a result (the readiness probe: 503)


@cache
def adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _query(**values: Any) -> dict[str, Any]:
    """Query parameters that were given (absent, never "None")."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = value.isoformat() if isinstance(value, date) else value
    return out


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def predict(
    game_id: str,
    model_name: str | None,
    include_explanation: bool,
    model_version: str | None = None,
) -> Operation[PredictionResponse]:
    body = _body(game_id=game_id, model_name=model_name, include_explanation=include_explanation,
                 model_version=model_version)  # fmt: skip
    return Operation("POST", "/api/v1/predict", adapter(PredictionResponse), body=body)


def predict_batch(
    game_ids: list[str],
    model_name: str | None,
    include_explanation: bool,
    model_version: str | None = None,
) -> Operation[list[PredictionResponse]]:
    body = _body(game_ids=list(game_ids), model_name=model_name,
                 include_explanation=include_explanation, model_version=model_version)  # fmt: skip
    return Operation("POST", "/api/v1/predict/batch", adapter(list[PredictionResponse]), body=body)


def prediction(game_id: str, model_name: str | None) -> Operation[PredictionResponse]:
    return Operation("GET", f"/api/v1/predict/{game_id}", adapter(PredictionResponse),
                     _query(model_name=model_name))  # fmt: skip


def predictions_today(
    model_name: str | None, min_confidence: float | None
) -> Operation[TodayResponse]:
    return Operation("GET", "/api/v1/predictions/today", adapter(TodayResponse),
                     _query(model_name=model_name, min_confidence=min_confidence))  # fmt: skip


def active_models() -> Operation[ActiveModels]:
    return Operation("GET", "/api/v1/models/active", adapter(ActiveModels))


def model(name: str, model_version: str | None) -> Operation[ModelDetails]:
    return Operation("GET", f"/api/v1/models/{name}", adapter(ModelDetails),
                     _query(model_version=model_version))  # fmt: skip


def model_performance(name: str, **query: Any) -> Operation[ModelPerformance]:
    return Operation("GET", f"/api/v1/models/{name}/performance", adapter(ModelPerformance),
                     _query(**query))  # fmt: skip


def leaderboard(**query: Any) -> Operation[Leaderboard]:
    return Operation("GET", "/api/v1/models/leaderboard", adapter(Leaderboard), _query(**query))


def recent_predictions(name: str, **query: Any) -> Operation[RecentPredictions]:
    return Operation("GET", f"/api/v1/models/{name}/recent-predictions",
                     adapter(RecentPredictions), _query(**query))  # fmt: skip


def feed(kind: str, records: list[dict[str, Any]]) -> Operation[FeedAnswer]:
    from firstpitch.api.feed_routes import FeedAnswer

    return Operation("POST", f"/api/v1/feed/{kind}", adapter(FeedAnswer),
                     body={"records": records})  # fmt: skip


def clock() -> Operation[ClockState]:
    from firstpitch.api.clock_routes import ClockState

    return Operation("GET", "/api/v1/clock", adapter(ClockState))


def drive_clock(now: datetime) -> Operation[DrivenClock]:
    from firstpitch.api.clock_routes import DrivenClock

    return Operation("POST", "/api/v1/clock", adapter(DrivenClock),
                     body={"now": now.isoformat()})  # fmt: skip


def health() -> Operation[Health]:
    return Operation("GET", "/health", adapter(Health), ok=(200, 503))


def ready() -> Operation[Ready]:
    return Operation("GET", "/health/ready", adapter(Ready), ok=(200, 503))


def live() -> Operation[Live]:
    return Operation("GET", "/health/live", adapter(Live))
