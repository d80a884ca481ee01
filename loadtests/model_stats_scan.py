"""The peer of ``loadtests/bench_model_stats.py``: the scan of the prediction log that the
model-statistics endpoints made before the maintained outcomes (migration 0006), its query
kept verbatim and its Python aggregation condensed, so both paths are timed in the same run
on the same log."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
import numpy as np

from features.market import decimal_odds
from loadtests.model_stats_data import NOW
from training.metrics import scores

VERSION_COLUMN = {"moneyline": "home_model_version", "total": "total_model_version"}
LATEST_SQL = """
SELECT DISTINCT ON (p.game_id, p.{version_col})
       p.game_id, p.{version_col} AS version, p.predicted_at, p.home_ml_probability,
       p.total_over_probability, p.home_ml_confidence, p.total_over_confidence, p.odds_used,
       p.recommendations, p.cache_hit, p.model_name,
       r.home_score, r.away_score, (r.known_at <= $2) AS final,
       o.close_ml_home, o.close_ml_away, o.close_total, o.close_over_price, o.close_under_price
FROM prediction_log p
LEFT JOIN game_results r ON r.game_id = p.game_id AND r.known_at <= $2
LEFT JOIN odds o ON o.game_id = p.game_id
WHERE p.predicted_at >= $1 AND p.predicted_at <= $2 {version_filter}
ORDER BY p.game_id, p.{version_col}, p.predicted_at DESC
"""


async def scan_latest(
    conn: asyncpg.Connection, ptype: str, days: int, version: str | None = None
) -> list[dict[str, Any]]:
    col = VERSION_COLUMN[ptype]
    args: list[Any] = [NOW - timedelta(days=days), NOW]
    where = ""
    if version is not None:
        where = f"AND p.{col} = $3"
        args.append(version)
    rows = await conn.fetch(LATEST_SQL.format(version_col=col, version_filter=where), *args)
    out = []
    for row in rows:
        d = dict(row)
        d["odds_used"] = json.loads(d["odds_used"])
        d["recommendations"] = json.loads(d["recommendations"])
        out.append(d)
    return out


def scan_performance(rows: list[dict[str, Any]], ptype: str) -> dict[str, Any]:
    """The former Python aggregation (outcome, scores, ROI, CLV), condensed."""
    key = "home_ml_probability" if ptype == "moneyline" else "total_over_probability"
    ys, ps, profits = [], [], []
    for r in rows:
        if r["home_score"] is None:
            continue
        y = int(r["home_score"] > r["away_score"])
        ys.append(y)
        ps.append(r[key])
        bet = r["recommendations"]["moneyline" if ptype == "moneyline" else "total"]
        if bet.get("recommended"):
            won = y == 1 if bet["side"] in ("home", "over") else y == 0
            profits.append(bet["decimal_odds"] - 1 if won else -1.0)
            if r["close_ml_home"] is not None:
                decimal_odds(r["close_ml_home"])
    if not ys:
        return {"resolved": 0}
    figures = scores(np.array(ys, dtype=np.float64), np.array(ps, dtype=np.float64))
    return figures | {"roi": sum(profits) / len(profits) if profits else None}
