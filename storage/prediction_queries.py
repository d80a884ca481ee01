"""Read side of the prediction log: outcomes, performance, leaderboard, recent predictions.

A game counts once per model version (its latest logged prediction in the window) and only
once its result is known by "now"; ROI is over the recommended bets at the odds used, and
closing-line value compares those odds with the closing price of the same side.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from features.market import decimal_odds
from storage.postgres import Conn
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


async def latest_predictions(
    conn: Conn,
    prediction_type: str,
    now: datetime,
    days: int,
    version: str | None = None,
) -> list[dict[str, Any]]:
    col = VERSION_COLUMN[prediction_type]
    args: list[Any] = [now - timedelta(days=days), now]
    version_filter = ""
    if version is not None:
        version_filter = f"AND p.{col} = $3"
        args.append(version)
    rows = await conn.fetch(
        LATEST_SQL.format(version_col=col, version_filter=version_filter), *args
    )
    out = []
    for row in rows:
        d = dict(row)
        d["odds_used"] = json.loads(d["odds_used"])
        d["recommendations"] = json.loads(d["recommendations"])
        out.append(d)
    return out


def outcome(row: dict[str, Any], prediction_type: str) -> int | None:
    """1/0 for the predicted event, None while unknown (or a push on the total)."""
    if row["home_score"] is None:
        return None
    if prediction_type == "moneyline":
        return int(row["home_score"] > row["away_score"])
    line = row["odds_used"].get("open_total")
    total = row["home_score"] + row["away_score"]
    if line is None or total == line:
        return None
    return int(total > line)


def _closing_price(row: dict[str, Any], side: str, line: float | None) -> int | None:
    if side in ("home", "away"):
        return row[f"close_ml_{side}"]  # type: ignore[no-any-return]
    if row["close_total"] is None or row["close_total"] != line:
        return None  # the closing market priced another line
    return row[f"close_{side}_price"]  # type: ignore[no-any-return]


def _bet_result(bet: dict[str, Any], y: int) -> float:
    won = y == 1 if bet["side"] in ("home", "over") else y == 0
    return float(bet["decimal_odds"] - 1) if won else -1.0


def performance(rows: list[dict[str, Any]], prediction_type: str) -> dict[str, Any]:
    market = "moneyline" if prediction_type == "moneyline" else "total"
    key = "home_ml_probability" if prediction_type == "moneyline" else "total_over_probability"
    resolved = [(r, o) for r in rows if (o := outcome(r, prediction_type)) is not None]
    out: dict[str, Any] = {
        "prediction_type": prediction_type,
        "predictions": len(rows),
        "resolved": len(resolved),
        "pending": len(rows) - len(resolved),
    }
    if resolved:
        labels = np.array([v for _, v in resolved], dtype=np.float64)
        probs = np.array([r[key] for r, _ in resolved], dtype=np.float64)
        s = scores(labels, probs)
        out.update(
            accuracy=s["accuracy"],
            brier=s["brier"],
            log_loss=s["log_loss"],
            auc=None if np.isnan(s["auc"]) else s["auc"],
        )
    else:
        out.update(accuracy=None, brier=None, log_loss=None, auc=None)
    profits, stakes, clv = [], [], []
    for row, y in resolved:
        bet = row["recommendations"][market]
        if not bet.get("recommended"):
            continue
        profits.append(_bet_result(bet, y))
        stakes.append(bet["recommended_bet_size"])
        close = _closing_price(row, bet["side"], bet.get("line"))
        if close is not None:
            clv.append(bet["decimal_odds"] / decimal_odds(close) - 1)
    staked = sum(stakes)
    out.update(
        bets=len(profits),
        bets_won=sum(1 for x in profits if x > 0),
        roi=sum(profits) / len(profits) if profits else None,
        roi_staked=sum(p * s for p, s in zip(profits, stakes, strict=True)) / staked
        if staked > 0
        else None,
        closing_line_value=sum(clv) / len(clv) if clv else None,
        clv_bets=len(clv),
    )
    return out


async def total_predictions(conn: Conn, prediction_type: str, version: str) -> int:
    col = VERSION_COLUMN[prediction_type]
    return int(
        await conn.fetchval(f"SELECT count(*) FROM prediction_log WHERE {col} = $1", version)
    )


async def latest_logged(conn: Conn, game_id: str, model_name: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM prediction_log WHERE game_id = $1 AND model_name = $2 "
        "ORDER BY predicted_at DESC LIMIT 1",
        game_id,
        model_name,
    )
    if row is None:
        return None
    d = dict(row)
    d["odds_used"] = json.loads(d["odds_used"])
    d["recommendations"] = json.loads(d["recommendations"])
    return d


async def game_meta(conn: Conn, game_ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT game_id, home_team, away_team, scheduled_start, game_date "
        "FROM games WHERE game_id = ANY($1)",
        game_ids,
    )
    return {r["game_id"]: dict(r) for r in rows}


async def games_on(conn: Conn, day: Any) -> list[str]:
    """The day's games that are still to be played (postponed and cancelled ones are not)."""
    rows = await conn.fetch(
        "SELECT game_id FROM games WHERE game_date = $1 "
        "AND status NOT IN ('postponed', 'cancelled') ORDER BY scheduled_start, game_id",
        day,
    )
    return [r["game_id"] for r in rows]
