"""The REST contract. Handlers validate, delegate to the runtime and shape responses."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from firstpitch.api import run_stats
from firstpitch.api.schemas import (
    ActiveModels,
    BatchPredictRequest,
    ErrorBody,
    GameId,
    Leaderboard,
    ModelDetails,
    ModelName,
    ModelPerformance,
    ModelVersion,
    PredictionResponse,
    PredictRequest,
    RecentPredictions,
    TodayResponse,
)
from firstpitch.serving import betting, head_to_head
from firstpitch.serving.catalog import PREDICTION_TYPE, TARGET_OF
from firstpitch.serving.errors import (
    GameCalledOff,
    InvalidQuery,
    NoPrediction,
    RateLimited,
    Unavailable,
)
from firstpitch.serving.metrics import metrics
from firstpitch.serving.runtime import ApiRuntime
from storage import outcomes
from storage import prediction_queries as q
from storage.live_queries import CALLED_OFF_STATUSES
from training.dataset import REGISTERED_NAMES

router = APIRouter()


def fast_json(payload: Any) -> Response:
    """Prediction bodies are built by us, so the hot endpoints skip FastAPI's re-validation
    of the response model (it cost more than the prediction; the e2e tests validate bodies
    against the same models) and encode with orjson."""
    return Response(orjson.dumps(payload), media_type="application/json")


# Every /api/ route may answer: 401 no/bad key, 403 wrong scope, 429 rate limited, 503
# overloaded or a dependency down; bodies may also be too large (413) or mis-sized (400).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422, 429, 503)
}
POST_ERRORS = ERRORS | {code: {"model": ErrorBody} for code in (400, 413)}
QueryModel = Annotated[ModelName | None, Query()]
QueryVersion = Annotated[ModelVersion | None, Query()]
PathModel = Annotated[ModelName, Path()]
PredictionType = Annotated[str | None, Query(pattern="^(moneyline|total)$")]
Days = Annotated[int, Query(ge=1, le=3650)]
OptionalDays = Annotated[
    int | None, Query(ge=1, le=3650, description="30 unless a date range is given")
]
DateFrom = Annotated[
    date | None, Query(description="First local game date of a range (with date_to)")
]
DateTo = Annotated[date | None, Query(description="Last local game date of the range")]
MAX_RANGE_DAYS = 3660


def window(days: int | None, date_from: date | None, date_to: date | None) -> outcomes.Window:
    """The games a statistic covers: the last `days` of predictions, or a range of dates."""
    if date_from is None and date_to is None:
        return outcomes.Window(30 if days is None else days)
    if date_from is None or date_to is None:
        raise InvalidQuery("a date range needs both date_from and date_to")
    if days is not None:
        raise InvalidQuery("give either days or a date range (date_from, date_to), not both")
    span = (date_to - date_from).days + 1
    if span < 1:
        raise InvalidQuery("date_from must not be after date_to")
    if span > MAX_RANGE_DAYS:
        raise InvalidQuery(f"a date range covers at most {MAX_RANGE_DAYS} days")
    return outcomes.Window(span, date_from, date_to)


async def runtime(request: Request) -> ApiRuntime:
    rt: ApiRuntime | None = getattr(request.app.state, "runtime", None)
    if rt is None:  # pragma: no cover - only before startup
        raise Unavailable("the service is starting; retry shortly")
    return rt


Runtime = Annotated[ApiRuntime, Depends(runtime)]


async def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    request.state.request_id = rid
    return str(rid)


RequestId = Annotated[str, Depends(request_id)]


def granted(request: Request) -> frozenset[str]:
    """The scopes of the request's API key (every scope with keys off; none without one)."""
    scopes: frozenset[str] = getattr(request.state, "api_scopes", frozenset())
    return scopes


Scopes = Annotated[frozenset[str], Depends(granted)]


async def charge(request: Request, rt: ApiRuntime, games: int) -> None:
    """Rate limits count games: access control charged the request one; the rest here."""
    key = getattr(request.state, "api_key", None)
    if key is None or games <= 1:
        return
    decision = await rt.limiter.check(key, games - 1, charged=1)
    if not decision.allowed:
        metrics().rejected.labels("rate_limited").inc()
        raise RateLimited(
            f"rate limit of this API key exceeded ({games} games asked; limits count games); "
            f"retry in {decision.retry_after_s} s",
            decision.retry_after_s,
        )


# ------------------------------------------------------------------------- predictions
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
        rt.logger.log(
            predictor._record(
                entry,
                name,
                "get",
                rid,
                rt.clock.now(),
                True,
                (time.perf_counter() - started) * 1000,
            )
        )
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


# ------------------------------------------------------------------------- models
@router.get("/api/v1/models/active", tags=["models"], response_model=ActiveModels, responses=ERRORS)
async def active_models(rt: Runtime) -> dict[str, Any]:
    predictor = await rt.predictor()
    models = []
    for target, info in predictor.served.info.items():
        described = await rt.catalog.describe(info["name"], info["version"])
        models.append(
            described | {"bento_tag": info["tag"], "is_active": True, "target_variable": target}
        )
    return {"models": models, "default_model": rt.settings.default_model}


def _prediction_type(model_name: str, requested: str | None) -> str:
    own = PREDICTION_TYPE[TARGET_OF[model_name]]
    if requested is not None and requested != own:
        raise InvalidQuery(f"{model_name} predicts {own}, not {requested}")
    return own


@router.get(
    "/api/v1/models/leaderboard", tags=["models"], response_model=Leaderboard, responses=ERRORS
)
async def leaderboard(
    rt: Runtime,
    metric: Annotated[
        str, Query(pattern="^(accuracy|brier|log_loss|roi|closing_line_value)$")
    ] = "log_loss",
    prediction_type: PredictionType = None,
    days: OptionalDays = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    run: run_stats.RunId = None,
) -> dict[str, Any]:
    """Versions ranked by `metric` over the last `days` (30) of predictions, or over the
    games played from `date_from` to `date_to` (local dates, inclusive); with `run`, those
    of a backtest run."""
    if run is not None:
        return await run_stats.leaderboard(
            rt, run, metric, prediction_type, days, limit, date_from, date_to
        )
    win = window(days, date_from, date_to)
    types = [prediction_type] if prediction_type else ["moneyline", "total"]
    name_of = {PREDICTION_TYPE[t]: n for n, t in TARGET_OF.items()}
    entries = []
    predictor = await rt.predictor()
    served = head_to_head.contenders(predictor.served.info, predictor.challengers, types)
    async with rt.stats() as conn:
        await outcomes.resolve(conn)
        for ptype in types:
            for version, perf in (
                await outcomes.performance(conn, ptype, rt.clock.now(), win)
            ).items():
                entries.append({"model_name": name_of[ptype], "model_version": version} | perf)
        h2h = await head_to_head.board(conn, served, rt.clock.now(), win, metric)
    lower_is_better = metric in {"brier", "log_loss"}
    ranked = sorted(
        (e for e in entries if e.get(metric) is not None),
        key=lambda e: e[metric],
        reverse=not lower_is_better,
    )
    return {
        "metric": metric,
        "days": win.days,
        "prediction_type": prediction_type,
        "date_from": date_from,
        "date_to": date_to,
        "leaderboard": [{"rank": i + 1} | e for i, e in enumerate(ranked[:limit])],
        "head_to_head": h2h,
    }


@router.get(
    "/api/v1/models/{model_name}", tags=["models"], response_model=ModelDetails, responses=ERRORS
)
async def model_details(
    rt: Runtime, model_name: PathModel, model_version: QueryVersion = None
) -> dict[str, Any]:
    described = await rt.catalog.describe(model_name, model_version)
    ptype = described["prediction_type"]
    version = described["model_version"]
    async with rt.stats() as conn:
        await outcomes.resolve(conn)
        total = await outcomes.total_logged(conn, ptype, version)
        perf = (
            await outcomes.performance(conn, ptype, rt.clock.now(), outcomes.Window(30), version)
        ).get(version) or outcomes.empty(ptype)
    described["versions"] = await rt.catalog.versions(model_name)
    return described | {
        "total_predictions": total,
        "recent_accuracy": perf["accuracy"],
        "recent_roi": perf["roi"],
        "recent_window_days": 30,
    }


@router.get(
    "/api/v1/models/{model_name}/performance",
    tags=["models"],
    response_model=ModelPerformance,
    responses=ERRORS,
)
async def model_performance(
    rt: Runtime,
    model_name: PathModel,
    model_version: QueryVersion = None,
    prediction_type: PredictionType = None,
    days: OptionalDays = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    run: run_stats.RunId = None,
) -> dict[str, Any]:
    """Over the games whose latest prediction by the version was made in the last `days`
    (30), or over the games played from `date_from` to `date_to` (local dates, inclusive):
    each game counts once, by its latest prediction, once its result is known. With `run`:
    a backtest run's games (its version unless `model_version` names the same)."""
    if run is not None:
        return await run_stats.performance(
            rt, run, model_name, model_version, prediction_type, days, date_from, date_to
        )
    win = window(days, date_from, date_to)
    described = await rt.catalog.describe(model_name, model_version)
    ptype = _prediction_type(model_name, prediction_type)
    version = described["model_version"]
    async with rt.stats() as conn:
        await outcomes.resolve(conn)
        perf = (await outcomes.performance(conn, ptype, rt.clock.now(), win, version)).get(
            version
        ) or outcomes.empty(ptype)
    return {
        "model_name": model_name,
        "model_version": version,
        "days": win.days,
        "date_from": date_from,
        "date_to": date_to,
    } | perf


@router.get(
    "/api/v1/models/{model_name}/recent-predictions",
    tags=["models"],
    response_model=RecentPredictions,
    responses=ERRORS,
)
async def recent_predictions(
    rt: Runtime,
    scopes: Scopes,
    model_name: PathModel,
    model_version: QueryVersion = None,
    days: Days = 7,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The model's latest predictions: with the `predictions` scope all of them, with only
    `models` those of finished games (no live probabilities or recommended bets)."""
    described = await rt.catalog.describe(model_name, model_version)
    ptype = described["prediction_type"]
    async with rt.stats() as conn:
        await outcomes.resolve(conn)
        rows = await outcomes.recent(
            conn,
            ptype,
            described["model_version"],
            rt.clock.now(),
            days,
            limit,
            # the `models` scope sees a model's record, not its bets on games to come
            finished_only="predictions" not in scopes,
        )
    out = []
    for r in rows:
        predicted = int(r["probability"] >= 0.5)
        out.append(
            {
                "game_id": r["game_id"],
                "predicted_at": r["predicted_at"].isoformat(),
                "probability": r["probability"],
                "predicted": predicted,
                "actual": r["y"],
                "correct": None if r["y"] is None else predicted == r["y"],
                "home_score": r["home_score"],
                "away_score": r["away_score"],
                "recommendation": r["recommendation"],
            }
        )
    return {
        "model_name": model_name,
        "model_version": described["model_version"],
        "prediction_type": ptype,
        "count": len(out),
        "predictions": out,
    }
