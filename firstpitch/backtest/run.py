"""``firstpitch backtest``: check the request, score the season, then store the run and its
report together — the run's rows, the report directory and the MLflow artifacts exist all
three or none (the database transaction commits last; a failure before removes the rest)."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from features.definitions import FEATURE_VERSION
from firstpitch.backtest import report, scoring
from firstpitch.clock import Clock
from firstpitch.serving.catalog import PREDICTION_TYPE, TARGET_OF
from firstpitch.serving.models import LocalModels
from firstpitch.serving.predictor import ServedModels
from firstpitch.settings import Settings
from runners.champions import NoChampion
from runners.versions import VersionNotFound
from storage import backtests, postgres, registry

VERSION = re.compile(r"[1-9][0-9]{0,8}")


class BacktestError(Exception):
    """A request the backtest cannot run (told before anything is written)."""


@dataclass(frozen=True)
class Request:
    season: int
    model_name: str
    model_version: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    report_dir: Path | None = None
    run_id: str | None = None


def _version_info(settings: Settings, name: str, version: str | None) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    uri, artifacts = settings.mlflow_uri, settings.mlflow_artifacts
    if version is None:
        version = registry.champion_version(uri, artifacts, name)
        if version is None:
            raise BacktestError(f"{name} has no champion; give --model-version")
    elif not VERSION.fullmatch(version):
        raise BacktestError(f"a version is a registry version number, e.g. 3, not {version!r}")
    try:
        tags = registry.run_tags(uri, artifacts, name, version)
    except MlflowException:
        raise BacktestError(f"{name} has no version {version} in the MLflow registry") from None
    if tags.get("feature_version") != FEATURE_VERSION:
        raise BacktestError(
            f"{name} version {version} was trained on feature set "
            f"{tags.get('feature_version')}; this code computes {FEATURE_VERSION}"
        )
    return {"name": name, "version": version, "feature_version": FEATURE_VERSION}


def resolve_models(settings: Settings, request: Request) -> dict[str, dict[str, str]]:
    """Both targets' versions: the one asked for, the champion of the other."""
    if request.model_name not in TARGET_OF:
        raise BacktestError(
            f"unknown model {request.model_name!r}; registered models: {', '.join(TARGET_OF)}"
        )
    asked = TARGET_OF[request.model_name]
    names = {t: n for n, t in TARGET_OF.items()}
    return {
        target: {"target": target}
        | _version_info(settings, name, request.model_version if target == asked else None)
        for target, name in names.items()
    }


async def _dates(conn: postgres.Conn, request: Request) -> tuple[date, date]:
    row = await conn.fetchrow(
        "SELECT min(game_date) AS first, max(game_date) AS last FROM games WHERE season = $1",
        request.season,
    )
    if row is None or row["first"] is None:
        span = await conn.fetchrow("SELECT min(season) AS a, max(season) AS b FROM games")
        held = f"{span['a']}–{span['b']}" if span and span["a"] is not None else "no games"
        raise BacktestError(f"no games of season {request.season} in the database ({held})")
    first = request.date_from or row["first"]
    last = request.date_to or row["last"]
    if first > last:
        raise BacktestError("--from must not be after --to")
    if first.year != request.season or last.year != request.season:
        raise BacktestError(f"--from and --to must lie in season {request.season}")
    return first, last


async def run_backtest(settings: Settings, dsn: str, request: Request) -> dict[str, Any]:
    """Run the backtest; returns its summary (what summary.json holds)."""
    models = await asyncio.to_thread(resolve_models, settings, request)
    run_id = request.run_id or backtests.new_run_id(request.season)
    pool = await postgres.create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await postgres.migrate(conn)
            date_from, date_to = await _dates(conn, request)
            games = await scoring.season_games(
                conn, request.season, date_from, date_to, settings.cutoff_minutes
            )
            if not games:
                raise BacktestError(f"no games from {date_from} to {date_to}")
            if await backtests.get(conn, run_id) is not None:
                raise BacktestError(f"a backtest run {run_id} exists already")
        directory = request.report_dir or settings.state_dir / "backtests" / run_id
        if directory.exists() and any(directory.iterdir()):
            raise BacktestError(f"the report directory {directory} is not empty")
        where = (run_id, directory)
        return await _run(settings, pool, request, models, games, (date_from, date_to), where)
    finally:
        await pool.close()


async def _run(
    settings: Settings,
    pool: Any,
    request: Request,
    models: dict[str, dict[str, str]],
    games: list[scoring.Game],
    dates: tuple[date, date],
    where: tuple[str, Path],
) -> dict[str, Any]:
    started_at, started = datetime.now(UTC), time.perf_counter()
    served = ServedModels(models)
    try:
        backend = await asyncio.to_thread(
            LocalModels, settings.mlflow_uri, settings.mlflow_artifacts
        )
        await backend.load_versions(served.versions)
    except (NoChampion, VersionNotFound) as exc:
        raise BacktestError(str(exc)) from None
    clock = Clock(games[0].cutoff, settings.tz, drivable=True)
    predictor, records = scoring.run_predictor(
        settings, postgres.Database(pool, 60.0), backend, served, clock
    )
    run_id, directory = where
    timings = await scoring.score(predictor, clock, games, request.model_name, run_id)
    finished_at = datetime.now(UTC)
    run = backtests.Run(
        run_id=run_id, season=request.season, date_from=dates[0], date_to=dates[1],
        model_name=request.model_name, home_model_version=served.versions[0],
        total_model_version=served.versions[1], feature_version=served.feature_version,
        policy=predictor.policy_settings, games=len(records.records), started_at=started_at,
        finished_at=finished_at, elapsed_s=time.perf_counter() - started, summary={},
    )  # fmt: skip
    staging = directory.with_name(f".{directory.name}.partial")
    ptype = PREDICTION_TYPE[TARGET_OF[request.model_name]]
    async with pool.acquire() as conn, conn.transaction():
        try:
            await backtests.save(conn, run, records.records)
            summary = await report.build(conn, run, ptype, timings, staging)
            await backtests.set_summary(conn, run_id, summary)
            name, version = request.model_name, run.version_of(ptype)
            mlflow_run = await asyncio.to_thread(
                registry.log_backtest, settings.mlflow_uri, settings.mlflow_artifacts,
                name, version, staging, f"backtests/{run_id}",
            )  # fmt: skip
            directory.parent.mkdir(parents=True, exist_ok=True)
            if directory.exists():
                directory.rmdir()
            staging.rename(directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return summary | {"report_dir": str(directory), "mlflow_run_id": mlflow_run}
