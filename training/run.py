"""``firstpitch train``: frame -> fit -> evaluate -> MLflow -> (promote -> BentoML store)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from storage import postgres, registry
from training.dataset import PRIMARY_TEST, REGISTERED_NAMES, labelled_frame, split
from training.plots import importance_plot, reliability_plot
from training.train import GRID, MAX_ROUNDS, TrainResult, train_target


class TrainingConfig(Protocol):
    """What training reads of the settings (``firstpitch.settings.Settings`` is one)."""

    @property
    def cutoff_minutes(self) -> int: ...
    @property
    def mlflow_uri(self) -> str: ...
    @property
    def mlflow_artifacts(self) -> Path: ...


class Database(Protocol):
    """Where the games are (``firstpitch.runtime.Endpoints`` is one)."""

    @property
    def postgres_dsn(self) -> str: ...


async def run_training(
    settings: TrainingConfig,
    endpoints: Database,
    target: str,
    *,
    promote: bool,
    grid: dict[str, list[Any]] | None = None,
    max_rounds: int = MAX_ROUNDS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    conn = await postgres.connect(endpoints.postgres_dsn)
    try:
        frame = await labelled_frame(conn, target, settings.cutoff_minutes)
    finally:
        await conn.close()
    train, valid, tests = split(frame)
    result = train_target(target, train, valid, tests, grid or GRID, max_rounds, progress)
    primary = tests[PRIMARY_TEST]
    version = _log(settings, result, primary.x, primary.y, primary.frame)
    out: dict[str, Any] = {
        "target": target,
        "registered_model": version.name,
        "model_version": version.version,
        "run_id": version.run_id,
        "feature_version": FEATURE_VERSION,
        "best_iteration": result.best_iteration,
        "valid_log_loss": result.valid_log_loss,
        "params": {k: result.params[k] for k in (grid or GRID)},
        "data_range": result.data_range,
        "test": {
            s: {k: v for k, v in d.items() if k != "model_all_games"}
            for s, d in result.test.items()
        },
        "model_all_games": {s: d["model_all_games"] for s, d in result.test.items()},
        "elapsed_s": round(result.elapsed_s, 2),
        "promoted": False,
    }
    if promote:
        out["bento_tag"] = registry.promote(
            settings.mlflow_uri, settings.mlflow_artifacts, version.name, version.version
        )
        out["promoted"] = True
    return out


def _log(
    settings: TrainingConfig, result: TrainResult, x: np.ndarray, y: np.ndarray, frame: Any
) -> registry.RegisteredVersion:
    booster = result.booster
    p = np.asarray(booster.predict(x, num_iteration=result.best_iteration), dtype=np.float64)
    workdir = Path(tempfile.mkdtemp(prefix="firstpitch-train-"))
    has_market = frame["market_open"].is_not_null().to_numpy()
    curves = {"model": (y, p)}
    if has_market.any():
        market = frame["market_open"].to_numpy().astype(np.float64)
        curves["opening market"] = (y[has_market], market[has_market])
    plots = [
        reliability_plot(curves, workdir / "reliability.png", f"{result.target}, {PRIMARY_TEST}"),
        importance_plot(
            list(FEATURE_NAMES), booster.feature_importance("gain"), workdir / "importance.png"
        ),
    ]
    metrics: dict[str, float] = {
        "valid_log_loss": result.valid_log_loss,
        "best_iteration": float(result.best_iteration),
    }
    for season, parts in result.test.items():
        for who, vals in parts.items():
            for name, value in vals.items():
                metrics[f"test_{season}_{who}_{name}"] = float(value)
    metrics.update({f"card_{k}": v for k, v in result.model_card.items()})
    complete = np.isfinite(x).all(axis=1)
    example = x[complete][:5] if complete.any() else np.nan_to_num(x[:5])
    # Keep the model at its best iteration so every consumer predicts the same thing.
    trimmed = booster.model_to_string(num_iteration=result.best_iteration)
    import lightgbm as lgb

    final = lgb.Booster(model_str=trimmed)
    return registry.log_and_register(
        tracking_uri=settings.mlflow_uri,
        artifacts=settings.mlflow_artifacts,
        registered_name=REGISTERED_NAMES[result.target],
        booster=final,
        params=result.params | {"best_iteration": result.best_iteration},
        metrics=metrics,
        tags={
            "target": result.target,
            "feature_version": FEATURE_VERSION,
            "train_range": result.data_range["train"],
            "valid_range": result.data_range["valid"],
            "test_range": result.data_range["test"],
            "primary_test": PRIMARY_TEST,
        },
        feature_names=list(FEATURE_NAMES),
        input_example=example,
        plots=plots,
        report={"test": result.test, "tuning": result.tuning, "model_card": result.model_card},
    )
