"""The leaderboard's head-to-head: each model's champion and challengers ranked on the same
resolved games, and each challenger's paired difference to the champion.

The games are those every one of the versions resolved in the window (the champion's latest
``MAX_GAMES`` at most: ``storage/head_to_head.py``), each counted once by each version's
latest prediction, as the rest of the model statistics count them. On those games: log loss,
Brier, calibration error (``BINS`` equal-width probability bins, the bins' gaps between mean
probability and frequency weighted by their games), accuracy, ROI and closing-line value of
the recommended bets. A challenger's difference to the champion (challenger minus champion,
per game: negative is better for log loss and Brier) gets a paired t interval at
``CONFIDENCE`` and the paired t-test's two-sided p-value.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from firstpitch.serving.catalog import PREDICTION_TYPE
from storage import head_to_head
from storage.outcomes import Window

MAX_GAMES = 5_000  # ~3 ms of Python per 100 games (bench_model_stats.py): bounded
CONFIDENCE = 0.95
BINS = 10
PAIRED = ("log_loss", "brier")
LOWER_IS_BETTER = {"brier", "log_loss"}


def calibration_error(p: np.ndarray, y: np.ndarray) -> float:
    bins = np.minimum((p * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in np.unique(bins):
        inside = bins == b
        total += inside.sum() * abs(float(p[inside].mean()) - float(y[inside].mean()))
    return total / len(p)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One version's figures over its rows (one per game, all resolved)."""
    p = np.array([r["p"] for r in rows], dtype=np.float64)
    y = np.array([r["y"] for r in rows], dtype=np.float64)
    bets = [r["bet_profit"] for r in rows if r["bet_profit"] is not None]
    clv = [r["clv"] for r in rows if r["clv"] is not None]
    return {
        "games": len(rows),
        "log_loss": _mean([r["log_loss"] for r in rows]),
        "brier": _mean([r["brier"] for r in rows]),
        "calibration_error": calibration_error(p, y) if len(rows) else None,
        "accuracy": _mean([float(r["correct"]) for r in rows]),
        "bets": len(bets),
        "roi": _mean(bets),
        "clv_bets": len(clv),
        "closing_line_value": _mean(clv),
    }


def paired(differences: np.ndarray) -> dict[str, Any]:
    """Mean of per-game differences with its paired t interval and two-sided p-value."""
    from scipy import stats  # type: ignore[import-untyped]  # LightGBM's own dependency

    n = len(differences)
    mean = float(differences.mean()) if n else None
    out: dict[str, Any] = {"mean_difference": mean, "std_error": None, "ci_low": None,
                           "ci_high": None, "p_value": None}  # fmt: skip
    if n < 2 or mean is None:
        return out
    se = float(differences.std(ddof=1)) / math.sqrt(n)
    out["std_error"] = se
    if se == 0.0:
        out["ci_low"] = out["ci_high"] = mean
        return out
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * se
    out["ci_low"], out["ci_high"] = mean - half, mean + half
    out["p_value"] = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return out


def compare(
    rows: list[dict[str, Any]], champion: str, challengers: list[str], metric: str
) -> dict[str, Any]:
    """Ranked figures of every version on the games all of them resolved, and each
    challenger's paired differences to the champion on those games."""
    versions = [champion, *challengers]
    by_version: dict[str, dict[str, dict[str, Any]]] = {v: {} for v in versions}
    for r in rows:
        by_version[r["model_version"]][r["game_id"]] = r
    common = sorted(set.intersection(*(set(g) for g in by_version.values())))
    entries = [
        {"model_version": v, "role": "champion" if v == champion else "challenger"}
        | figures([by_version[v][g] for g in common])
        for v in versions
    ]
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    ranked = sorted(entries, key=lambda e: (e[metric] is None, sign * (e[metric] or 0.0)))
    comparisons = []
    for v in challengers:
        pairs = {
            score: paired(
                np.array(
                    [by_version[v][g][score] - by_version[champion][g][score] for g in common],
                    dtype=np.float64,
                )
            )
            for score in PAIRED
        }
        comparisons.append({"model_version": v, "games": len(common)} | pairs)
    return {
        "games": len(common),
        "entries": [{"rank": i + 1} | e for i, e in enumerate(ranked)],
        "comparisons": comparisons,
    }


def contenders(
    champions: dict[str, dict[str, str]], challengers: tuple[Any, ...], types: list[str]
) -> dict[str, tuple[str, str, list[str]]]:
    """Prediction type -> (model name, champion version, challenger versions) of what a
    predictor serves (``Predictor.served.info``, ``Predictor.challengers``)."""
    out = {}
    for target, info in champions.items():
        ptype = PREDICTION_TYPE[target]
        if ptype in types:
            versions = [c.info["version"] for c in challengers if c.target == target]
            out[ptype] = (info["name"], info["version"], versions)
    return out


async def board(
    conn: Any,
    served: dict[str, tuple[str, str, list[str]]],
    now: datetime,
    window: Window,
    metric: str,
    max_games: int = MAX_GAMES,
) -> list[dict[str, Any]]:
    """One head-to-head per prediction type in ``served``: type -> (model name, champion
    version, challenger versions)."""
    out = []
    for ptype, (name, champion, challengers) in served.items():
        rows = await head_to_head.rows(
            conn, ptype, now, window, champion, [champion, *challengers], max_games
        )
        played = sum(1 for r in rows if r["model_version"] == champion)
        out.append(
            {
                "prediction_type": ptype,
                "model_name": name,
                "champion_version": champion,
                "challenger_versions": challengers,
                "confidence": CONFIDENCE,
                "max_games": max_games,
                "truncated": played >= max_games,
            }
            | compare(rows, champion, challengers, metric)
        )
    return out
