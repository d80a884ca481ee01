"""Model statistics of a backtest run (``run=<backtest id>`` on the performance and
leaderboard endpoints): the same figures as live, read from the run's outcome rows
(``storage/backtests.py``) instead of the live ones, over the whole run or a range of its
game dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query

from firstpitch.serving.catalog import PREDICTION_TYPE, TARGET_OF
from firstpitch.serving.errors import InvalidQuery, UnknownModel, UnknownRun
from firstpitch.serving.runtime import ApiRuntime
from storage import backtests
from storage.outcomes import empty
from storage.postgres import Conn

EXAMPLE_RUN = "bt-2021-0a1b2c3d"
RunId = Annotated[
    str | None,
    Query(
        pattern=backtests.RUN_ID_PATTERN,
        description="A backtest run's id (`firstpitch backtest`): its figures instead of "
        "live traffic's, over the whole run or the game dates date_from..date_to",
        examples=[EXAMPLE_RUN],
    ),
]


def _dates(days: int | None, date_from: date | None, date_to: date | None) -> None:
    if days is not None:
        raise InvalidQuery(
            "days counts back from now and a backtest run is not live: with run, give a "
            "date range (date_from, date_to) or nothing (the whole run)"
        )
    if (date_from is None) != (date_to is None):
        raise InvalidQuery("a date range needs both date_from and date_to")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidQuery("date_from must not be after date_to")


async def _run(conn: Conn, run_id: str) -> backtests.Run:
    run = await backtests.get(conn, run_id)
    if run is None:
        raise UnknownRun(f"no backtest run {run_id}; `firstpitch backtest` prints the ids")
    return run


def _span(run: backtests.Run, date_from: date | None, date_to: date | None) -> int:
    first, last = date_from or run.date_from, date_to or run.date_to
    return max(1, (last - first).days + 1)


async def performance(
    rt: ApiRuntime,
    run_id: str,
    model_name: str,
    model_version: str | None,
    prediction_type: str | None,
    days: int | None,
    date_from: date | None,
    date_to: date | None,
) -> dict[str, Any]:
    if model_name not in TARGET_OF:
        raise UnknownModel(f"unknown model {model_name!r}; registered: {', '.join(TARGET_OF)}")
    ptype = PREDICTION_TYPE[TARGET_OF[model_name]]
    if prediction_type is not None and prediction_type != ptype:
        raise InvalidQuery(f"{model_name} predicts {ptype}, not {prediction_type}")
    _dates(days, date_from, date_to)
    async with rt.stats() as conn:
        run = await _run(conn, run_id)
        version = run.version_of(ptype)
        if model_version is not None and model_version != version:
            raise InvalidQuery(
                f"run {run_id} scored {model_name} version {version}, not {model_version}"
            )
        perf = (await backtests.performance(conn, run, ptype, version, date_from, date_to)).get(
            version
        )
    return {
        "model_name": model_name,
        "model_version": version,
        "days": _span(run, date_from, date_to),
        "date_from": date_from,
        "date_to": date_to,
        "run": run_id,
    } | (perf or empty(ptype))


async def leaderboard(
    rt: ApiRuntime,
    run_id: str,
    metric: str,
    prediction_type: str | None,
    days: int | None,
    limit: int,
    date_from: date | None,
    date_to: date | None,
) -> dict[str, Any]:
    _dates(days, date_from, date_to)
    types = [prediction_type] if prediction_type else ["moneyline", "total"]
    name_of = {PREDICTION_TYPE[t]: n for n, t in TARGET_OF.items()}
    entries = []
    async with rt.stats() as conn:
        run = await _run(conn, run_id)
        for ptype in types:
            figures = await backtests.performance(conn, run, ptype, None, date_from, date_to)
            for version, perf in figures.items():
                entries.append({"model_name": name_of[ptype], "model_version": version} | perf)
    ranked = sorted(
        (e for e in entries if e.get(metric) is not None),
        key=lambda e: e[metric],
        reverse=metric not in {"brier", "log_loss"},
    )
    return {
        "metric": metric,
        "days": _span(run, date_from, date_to),
        "prediction_type": prediction_type,
        "date_from": date_from,
        "date_to": date_to,
        "run": run_id,
        "leaderboard": [{"rank": i + 1} | e for i, e in enumerate(ranked[:limit])],
    }
