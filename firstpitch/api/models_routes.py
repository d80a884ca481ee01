"""The model routes: the served models, a model's card, its performance and recent
predictions, and the leaderboard of versions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from firstpitch.api import run_stats
from firstpitch.api.deps import ERRORS, Runtime, Scopes
from firstpitch.api.model_schemas import (
    ActiveModels,
    Leaderboard,
    ModelDetails,
    ModelPerformance,
    RecentPredictions,
)
from firstpitch.api.schemas import ModelName, ModelVersion
from firstpitch.serving import head_to_head
from firstpitch.serving.catalog import PREDICTION_TYPE, TARGET_OF
from firstpitch.serving.errors import InvalidQuery
from storage import outcomes

router = APIRouter()
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
