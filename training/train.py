"""Fit LightGBM with early stopping on the validation season; evaluate against the market."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from features.definitions import FEATURE_NAMES
from training.dataset import PRIMARY_TEST, Split
from training.metrics import classification, scores

BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.02,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "verbosity": -1,
    "num_threads": 2,
    "seed": 17,
    "deterministic": True,
    "force_col_wise": True,
}
GRID: dict[str, list[Any]] = {"num_leaves": [7, 15], "min_data_in_leaf": [100, 400]}
# The opening line's own probability (Elo's where a game has none) as the starting score:
# one regression tree on its logit, so the boosting rounds after it learn only what the
# line misses. Part of the model like any other tree: serving needs nothing extra.
OFFSET_FEATURE = {"home_win": "mkt_home_prob_open", "total_over": "mkt_over_prob_open"}
OFFSET_FALLBACK = {"home_win": "elo_home_prob", "total_over": None}
OFFSET_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 1.0,
    "num_leaves": 255,
    "min_data_in_leaf": 20,
    "max_bin": 1023,
    "verbosity": -1,
    "num_threads": 2,
    "seed": 17,
    "deterministic": True,
    "force_col_wise": True,
}
MAX_ROUNDS = 2000
EARLY_STOP = 100


@dataclass
class TrainResult:
    target: str
    booster: lgb.Booster
    params: dict[str, Any]
    best_iteration: int
    valid_log_loss: float
    test: dict[str, dict[str, dict[str, float]]]
    model_card: dict[str, float]
    data_range: dict[str, str]
    tuning: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0


def market_offset(train: Split, target: str) -> lgb.Booster:
    """One tree fitting the logit of the opening line's probability (or the fallback's)."""
    p = train.frame[OFFSET_FEATURE[target]]
    fallback = OFFSET_FALLBACK[target]
    if fallback is not None:
        p = p.fill_null(train.frame[fallback])
    q = np.clip(p.fill_null(0.5).to_numpy().astype(np.float64), 1e-4, 1 - 1e-4)
    data = lgb.Dataset(train.x, np.log(q / (1 - q)), feature_name=list(FEATURE_NAMES))
    return lgb.train(OFFSET_PARAMS, data, num_boost_round=1)


def fit(
    train: Split,
    valid: Split,
    grid: dict[str, list[Any]] | None = None,
    max_rounds: int = MAX_ROUNDS,
    progress: Callable[[int], None] | None = None,
    target: str = "home_win",
) -> tuple[lgb.Booster, dict[str, Any], list[dict[str, Any]]]:
    """Grid search on the validation log loss, each fit with early stopping, every fit
    boosting on from the market offset tree."""
    grid = grid or GRID
    best: tuple[float, lgb.Booster, dict[str, Any]] | None = None
    tried = []
    offset = market_offset(train, target)
    for values in itertools.product(*grid.values()):
        params = BASE_PARAMS | dict(zip(grid, values, strict=True))
        dtrain = lgb.Dataset(train.x, train.y, feature_name=list(FEATURE_NAMES))
        dvalid = lgb.Dataset(valid.x, valid.y, reference=dtrain)
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=max_rounds,
            valid_sets=[dvalid],
            init_model=offset,
            callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
        )
        loss = float(booster.best_score["valid_0"]["binary_logloss"])
        tried.append(
            {
                **dict(zip(grid, values, strict=True)),
                "valid_log_loss": loss,
                "best_iteration": booster.best_iteration,
            }
        )
        if best is None or loss < best[0]:
            best = (loss, booster, params)
        if progress:
            progress(1)
    assert best is not None
    return best[1], best[2], tried


def predict(booster: lgb.Booster, x: np.ndarray) -> npt.NDArray[np.float64]:
    return np.asarray(booster.predict(x, num_iteration=booster.best_iteration), dtype=np.float64)


def evaluate(booster: lgb.Booster, tests: dict[str, Split], base_rate: float) -> dict[str, Any]:
    """Per test season: the model, the constant rate, the opening and closing markets, all on
    the games where every benchmark has a price."""
    report: dict[str, Any] = {}
    for season, part in tests.items():
        frame = part.frame.filter(
            part.frame["market_open"].is_not_null() & part.frame["market_close"].is_not_null()
        )
        sub = Split(season, frame)
        y = sub.y
        p_model = predict(booster, sub.x)
        report[season] = {
            "model": scores(y, p_model),
            "constant": scores(y, np.full_like(y, base_rate)),
            "opening_market": scores(y, frame["market_open"].to_numpy().astype(np.float64)),
            "closing_market": scores(y, frame["market_close"].to_numpy().astype(np.float64)),
            "model_all_games": scores(part.y, predict(booster, part.x)),
        }
    return report


def train_target(
    target: str,
    train: Split,
    valid: Split,
    tests: dict[str, Split],
    grid: dict[str, list[Any]] | None = None,
    max_rounds: int = MAX_ROUNDS,
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    started = time.perf_counter()
    booster, params, tried = fit(train, valid, grid, max_rounds, progress, target)
    base_rate = float(train.y.mean())
    report = evaluate(booster, tests, base_rate)
    primary = tests[PRIMARY_TEST]
    card = classification(primary.y, predict(booster, primary.x))
    seasons = train.frame["season"]
    test_seasons = sorted(tests)
    return TrainResult(
        target=target,
        booster=booster,
        params={k: v for k, v in params.items() if k not in {"verbosity"}},
        best_iteration=booster.best_iteration,
        valid_log_loss=float(booster.best_score["valid_0"]["binary_logloss"]),
        test=report,
        model_card=card,
        data_range={
            "train": f"{seasons.min()!s}-{seasons.max()!s}",
            "valid": f"{valid.frame['season'].min()!s}",
            "test": test_seasons[0] if len(tests) == 1 else f"{test_seasons[0]}-{test_seasons[-1]}",
            "primary_test": PRIMARY_TEST,
        },
        tuning=tried,
        elapsed_s=time.perf_counter() - started,
    )
