"""Rolling-origin evaluation against the betting market, season by season.

For each test season S: train on every season before S − 1, tune the grid and early-stop on
S − 1, and score S — the model, the de-vigged opening line and the closing line on the same
games (those with both prices; for totals, the closing price counts only where the total
held, so the opening comparison is also given on every game with an opening price). A test
season is never seen by training or tuning. The recommended bets follow the serving rules
(the ``bettor`` passed in is the service's own recommendation function): ROI per unit bet,
and closing-line value, the opening price's decimal odds over the closing price's − 1.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from features.market import decimal_odds
from training.dataset import Split
from training.metrics import scores
from training.train import GRID, MAX_ROUNDS, fit, predict

Bettor = Callable[[str, tuple[str, str], float, tuple[int | None, int | None], float | None],
                  dict[str, Any]]  # fmt: skip
MARKETS: dict[str, dict[str, Any]] = {
    "home_win": {
        "market": "moneyline",
        "sides": ("home", "away"),
        "open": ("open_ml_home", "open_ml_away"),
        "close": ("close_ml_home", "close_ml_away"),
    },
    "total_over": {
        "market": "total",
        "sides": ("over", "under"),
        "open": ("open_over_price", "open_under_price"),
        "close": ("close_over_price", "close_under_price"),
    },
}
SUMMARY_METRICS = ("log_loss", "brier", "ece")


def _closing_price(row: dict[str, Any], target: str, side_index: int) -> int | None:
    if target == "total_over" and row["close_total"] != row["open_total"]:
        return None  # the closing total prices another event
    price = row[MARKETS[target]["close"][side_index]]
    return None if price is None else int(price)


def betting(frame: pl.DataFrame, p: np.ndarray, target: str, bettor: Bettor) -> dict[str, Any]:
    """The recommended bets on ``frame`` at the opening prices: count, ROI, CLV."""
    spec = MARKETS[target]
    profits: list[float] = []
    clv: list[float] = []
    for row, prob in zip(frame.iter_rows(named=True), p, strict=True):
        prices = (row[spec["open"][0]], row[spec["open"][1]])
        line = row["open_total"] if target == "total_over" else None
        bet = bettor(spec["market"], spec["sides"], float(prob), prices, line)
        if not bet["recommended"]:
            continue
        first = bet["side"] == spec["sides"][0]
        won = (row["label"] == 1) == first
        profits.append(bet["decimal_odds"] - 1 if won else -1.0)
        close = _closing_price(row, target, 0 if first else 1)
        if close is not None:
            clv.append(bet["decimal_odds"] / decimal_odds(close) - 1)
    return {
        "bets": len(profits),
        "roi": statistics.fmean(profits) if profits else None,
        "clv": statistics.fmean(clv) if clv else None,
        "clv_bets": len(clv),
    }


def evaluate_season(
    frame: pl.DataFrame,
    target: str,
    season: int,
    bettor: Bettor,
    grid: dict[str, list[Any]] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> dict[str, Any]:
    """Train before ``season − 1``, tune on ``season − 1``, score ``season``."""
    valid_season = season - 1
    train = Split("train", frame.filter(pl.col("season") < valid_season))
    valid = Split("valid", frame.filter(pl.col("season") == valid_season))
    test = frame.filter(pl.col("season") == season)
    if train.frame.is_empty() or valid.frame.is_empty() or test.is_empty():
        raise ValueError(f"season {season}: no games to train, validate or test on")
    booster, params, _ = fit(train, valid, grid or GRID, max_rounds, target=target)
    opened = test.filter(pl.col("market_open").is_not_null())
    priced = opened.filter(pl.col("market_close").is_not_null())
    y, p = Split("t", priced).y, predict(booster, Split("t", priced).x)
    y_open, p_open = Split("o", opened).y, predict(booster, Split("o", opened).x)
    seasons = train.frame["season"]
    return {
        "season": season,
        "train_range": f"{seasons.min()!s}-{seasons.max()!s}",
        "valid_season": valid_season,
        "games": len(y),
        "model": scores(y, p),
        "opening_market": scores(y, priced["market_open"].to_numpy().astype(np.float64)),
        "closing_market": scores(y, priced["market_close"].to_numpy().astype(np.float64)),
        "vs_opening_all_lines": {
            "games": len(y_open),
            "model": scores(y_open, p_open)["log_loss"],
            "opening_market": scores(y_open, opened["market_open"].to_numpy().astype(np.float64))[
                "log_loss"
            ],
        },
        "betting": betting(opened, p_open, target, bettor),
        "best_iteration": booster.best_iteration,
        "params": {k: params[k] for k in (grid or GRID)},
    }


def summarise(per_season: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread (sample standard deviation) across test seasons."""

    def stats(values: list[float]) -> dict[str, float]:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "sd": spread}

    out: dict[str, Any] = {}
    for who in ("model", "opening_market", "closing_market"):
        out[who] = {m: stats([s[who][m] for s in per_season]) for m in SUMMARY_METRICS}
    gaps = [s["model"]["log_loss"] - s["opening_market"]["log_loss"] for s in per_season]
    out["model_minus_opening_log_loss"] = stats(gaps)
    out["seasons_below_opening"] = sum(1 for g in gaps if g < 0)
    # Over all recommended bets of all seasons (a season with one bet weighs one bet).
    bets = [s["betting"] for s in per_season]
    out["bets"] = sum(b["bets"] for b in bets)
    out["clv_bets"] = sum(b["clv_bets"] for b in bets)
    out["bet_roi"] = (
        sum(b["roi"] * b["bets"] for b in bets if b["bets"]) / out["bets"] if out["bets"] else None
    )
    out["bet_clv"] = (
        sum(b["clv"] * b["clv_bets"] for b in bets if b["clv_bets"]) / out["clv_bets"]
        if out["clv_bets"]
        else None
    )
    return out


def rolling_origin(
    frame: pl.DataFrame,
    target: str,
    seasons: list[int],
    bettor: Bettor,
    grid: dict[str, list[Any]] | None = None,
    max_rounds: int = MAX_ROUNDS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every test season in turn, then the summary."""
    started = time.perf_counter()
    per_season = []
    for season in sorted(seasons):
        per_season.append(evaluate_season(frame, target, season, bettor, grid, max_rounds))
        if progress:
            progress(1)
    return {
        "target": target,
        "seasons": per_season,
        "summary": summarise(per_season),
        "elapsed_s": round(time.perf_counter() - started, 2),
    }


def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report as MLflow metric names: ``{season}_{who}_{metric}`` and ``mean_…``."""
    out: dict[str, float] = {}
    for s in report["seasons"]:
        for who in ("model", "opening_market", "closing_market"):
            for m in (*SUMMARY_METRICS, "n"):
                out[f"s{s['season']}_{who}_{m}"] = float(s[who][m])
        for key in ("bets", "roi", "clv"):
            if s["betting"][key] is not None:
                out[f"s{s['season']}_bet_{key}"] = float(s["betting"][key])
    summary = report["summary"]
    for who in ("model", "opening_market", "closing_market"):
        for m in SUMMARY_METRICS:
            out[f"mean_{who}_{m}"] = summary[who][m]["mean"]
            out[f"sd_{who}_{m}"] = summary[who][m]["sd"]
    out["mean_model_minus_opening_log_loss"] = summary["model_minus_opening_log_loss"]["mean"]
    out["seasons_below_opening"] = float(summary["seasons_below_opening"])
    for key in ("roi", "clv"):
        if summary[f"bet_{key}"] is not None:
            out[f"all_bets_{key}"] = summary[f"bet_{key}"]
    out["all_bets"] = float(summary["bets"])
    return out
