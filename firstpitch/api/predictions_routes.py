"""The prediction routes: predict one game or a batch, read a game's latest prediction, and
today's games."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from firstpitch.api.deps import (
    ERRORS,
    POST_ERRORS,
    QueryModel,
    RequestId,
    Runtime,
    charge,
    fast_json,
)
from firstpitch.api.schemas import (
    BatchPredictRequest,
    GameId,
    PredictionResponse,
    PredictRequest,
    TodayResponse,
)
from firstpitch.serving import betting, shaping
from firstpitch.serving.catalog import TARGET_OF
from firstpitch.serving.errors import GameCalledOff, NoPrediction
from firstpitch.serving.runtime import ApiRuntime
from storage import prediction_queries as q
from storage.live_queries import CALLED_OFF_STATUSES
from training.dataset import REGISTERED_NAMES

router = APIRouter()


@router.post(
    "/api/v1/predict",
    response_model=PredictionResponse,
    responses=POST_ERRORS,
    tags=["predictions"],
)
async def predict(body: PredictRequest, rt: Runtime, rid: RequestId) -> Response:
    predictor = await rt.predictor_for(body.model_name, body.model_version)
    (out,) = await predictor.predict(
        [body.game_id],
        body.model_name,
        explain=body.include_explanation,
        endpoint="predict",
        request_id=rid,
    )
    return fast_json(out)


@router.post(
    "/api/v1/predict/batch",
    response_model=list[PredictionResponse],
    responses=POST_ERRORS,
    tags=["predictions"],
)
async def predict_batch(
    body: BatchPredictRequest, rt: Runtime, rid: RequestId, request: Request
) -> Response:
    """Counts as one request per game towards the key's rate limit."""
    await charge(request, rt, len(body.game_ids))
    predictor = await rt.predictor_for(body.model_name, body.model_version)
    return fast_json(
        await predictor.predict(
            body.game_ids,
            body.model_name,
            explain=body.include_explanation,
            endpoint="batch",
            request_id=rid,
        )
    )


@router.get("/api/v1/predict/batch", include_in_schema=False)
async def batch_is_post_only() -> None:
    """``GET /predict/batch`` would otherwise be ``GET /predict/{game_id}`` with the invalid
    id "batch" (422); the resource exists and only takes POST, so: 405 with Allow."""
    raise StarletteHTTPException(405, headers={"Allow": "POST"})


@router.get(
    "/api/v1/predict/{game_id}",
    response_model=PredictionResponse,
    responses=ERRORS,
    tags=["predictions"],
)
async def cached_prediction(
    game_id: Annotated[GameId, Path()], rt: Runtime, rid: RequestId, model_name: QueryModel = None
) -> Response:
    """The cached prediction (Redis), else the latest logged one (Postgres), else 404."""
    started = time.perf_counter()
    predictor = await rt.predictor()
    name = model_name or rt.settings.default_model
    target = predictor.served.target_of(name)
    cached = await predictor.cache.get_many([game_id])
    if game_id in cached:
        entry = cached[game_id]
        base = predictor.record_base(name, "get", rid, rt.clock.now())
        latency_ms = (time.perf_counter() - started) * 1000
        rt.logger.log(shaping.record(base, entry, True, latency_ms))
        return fast_json(predictor.respond(entry, name, target, cache_hit=True))
    async with rt.db.connection() as conn:
        row = await q.latest_logged(conn, game_id, name)
        meta = (await q.game_meta(conn, [game_id])).get(game_id)
    if meta is not None and meta["status"] in CALLED_OFF_STATUSES:
        raise GameCalledOff.of({game_id: meta["status"]})  # what was logged priced another time
    if row is None or meta is None:
        raise NoPrediction(
            f"no prediction for {game_id} by {name}; POST /api/v1/predict to make one"
        )
    return fast_json(_from_log(row, meta, rt))


def _from_log(row: dict[str, Any], meta: dict[str, Any], rt: ApiRuntime) -> dict[str, Any]:
    policy = betting.BettingPolicy(min_confidence=rt.settings.min_confidence)
    target = TARGET_OF[row["model_name"]]
    p_home, p_over = row["home_ml_probability"], row["total_over_probability"]
    primary = betting.confidence(p_home if target == "home_win" else p_over)
    return {
        "game_id": row["game_id"],
        "model_name": row["model_name"],
        "model_version": row["model_version"],
        "prediction_timestamp": row["predicted_at"].isoformat(),
        "feature_version": row["feature_version"],
        "feature_cutoff_time": row["feature_cutoff"].isoformat(),
        "feature_as_of": row["feature_as_of"].isoformat(),
        "home_ml_probability": p_home,
        "home_ml_binary": int(p_home >= 0.5),
        "home_ml_confidence": betting.confidence(p_home),
        "total_over_probability": p_over,
        "total_over_binary": int(p_over >= 0.5),
        "total_over_confidence": betting.confidence(p_over),
        "confidence_threshold_met": primary >= policy.min_confidence,
        "risk_level": betting.risk_level(primary, policy),
        "betting_recommendations": row["recommendations"],
        "home_team": meta["home_team"],
        "away_team": meta["away_team"],
        "scheduled_start": meta["scheduled_start"].isoformat(),
        "models": {
            "home_win": {
                "model_name": REGISTERED_NAMES["home_win"],
                "model_version": row["home_model_version"],
            },
            "total_over": {
                "model_name": REGISTERED_NAMES["total_over"],
                "model_version": row["total_model_version"],
            },
        },
        "cache_hit": False,
    }


@router.get(
    "/api/v1/predictions/today",
    response_model=TodayResponse,
    responses=ERRORS,
    tags=["predictions"],
)
async def predictions_today(
    rt: Runtime,
    rid: RequestId,
    request: Request,
    model_name: QueryModel = None,
    min_confidence: Annotated[float, Query(ge=0.5, le=1.0)] = 0.5,
) -> Response:
    predictor = await rt.predictor()
    name = model_name or rt.settings.default_model
    target = predictor.served.target_of(name)
    today = rt.clock.today()
    async with rt.db.connection() as conn:
        ids = await q.games_on(conn, today)
    await charge(request, rt, len(ids))
    preds = await predictor.predict(ids, name, endpoint="today", request_id=rid) if ids else []
    key = "home_ml_confidence" if target == "home_win" else "total_over_confidence"
    kept = [p for p in preds if p[key] >= min_confidence]
    return fast_json(
        {
            "date": today.isoformat(),
            "model_name": name,
            "min_confidence": min_confidence,
            "count": len(kept),
            "predictions": kept,
        }
    )
