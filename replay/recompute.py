"""An independent recomputation of model performance straight from the prediction log, the
results and the odds snapshots, in Python (no SQL beyond reading the tables): what the
maintained outcomes must equal.

The definitions (README, "Outcomes"): per (prediction type, model version) each game counts
once, by its latest logged record (greatest ``(predicted_at, record_id)``); it is in a
`days` window when that record was made in the last `days` up to now, in a date range when
the game's local date is in it (and the record was made by now); it is resolved once its
result is known by now (a total: against the prediction's opening total, pushes excluded).
ROI is over recommended bets; CLV compares a bet's decimal odds with its side's price in the
last snapshot at or before first pitch (greatest ``(observed_at, source)`` that prices the
side; a total only where that snapshot has the bet's line).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from features.market import decimal_odds
from storage.postgres import Conn
from training.metrics import scores

VERSION = {"moneyline": "home_model_version", "total": "total_model_version"}
MODEL = {"moneyline": "firstpitch-home-win", "total": "firstpitch-total-over"}
PROB = {"moneyline": "home_ml_probability", "total": "total_over_probability"}
SIDE_PRICE = {"home": "home_price", "away": "away_price", "over": "over_price",
              "under": "under_price"}  # fmt: skip


async def latest(conn: Conn, ptype: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, game) → its latest record, with ``logged`` = how many it has. A challenger's
    shadow record counts for its own model's market only."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await conn.fetch("SELECT * FROM prediction_log"):
        d = dict(row)
        if d.get("shadow") and d["model_name"] != MODEL[ptype]:
            continue
        key = (d[VERSION[ptype]], d["game_id"])
        held = out.get(key)
        if held is None or (d["predicted_at"], d["record_id"]) > (
            held["predicted_at"],
            held["record_id"],
        ):
            d["logged"] = (held["logged"] if held else 0) + 1
            out[key] = d
        else:
            held["logged"] += 1
    return out


def _closing(
    snaps: list[dict[str, Any]], first_pitch: datetime, bet: dict[str, Any]
) -> float | None:
    market = "total" if bet["market"] == "total" else "moneyline"
    col = SIDE_PRICE[bet["side"]]
    found = [s for s in snaps if s["market"] == market and s["observed_at"] <= first_pitch
             and s[col] is not None]  # fmt: skip
    if not found:
        return None
    last = max(found, key=lambda s: (s["observed_at"], s["source"]))
    if market == "total" and last["line"] != bet.get("line"):
        return None
    return decimal_odds(last[col])


async def recompute(
    conn: Conn,
    ptype: str,
    now: datetime,
    days: int = 30,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, dict[str, Any]]:
    games = {r["game_id"]: dict(r) for r in await conn.fetch("SELECT * FROM games")}
    results = {r["game_id"]: dict(r) for r in await conn.fetch("SELECT * FROM game_results")}
    snaps: dict[str, list[dict[str, Any]]] = {}
    for r in await conn.fetch("SELECT * FROM odds_snapshots"):
        snaps.setdefault(r["game_id"], []).append(dict(r))
    by_version: dict[str, list[dict[str, Any]]] = {}
    for (version, game), row in (await latest(conn, ptype)).items():
        if row["predicted_at"] > now:
            continue
        if date_from is not None and date_to is not None:
            if game not in games or not date_from <= games[game]["game_date"] <= date_to:
                continue
        elif row["predicted_at"] < now - timedelta(days=days):
            continue
        by_version.setdefault(version, []).append(row)
    return {
        v: _performance(rows, ptype, games, results, snaps, now) for v, rows in by_version.items()
    }


def _outcome(row: dict[str, Any], ptype: str, result: dict[str, Any] | None) -> int | None:
    if result is None:
        return None
    if ptype == "moneyline":
        return int(result["home_score"] > result["away_score"])
    line = json.loads(row["odds_used"]).get("open_total")
    total = result["home_score"] + result["away_score"]
    if line is None or total == line:
        return None
    return int(total > line)


def _performance(
    rows: list[dict[str, Any]],
    ptype: str,
    games: dict[str, Any],
    results: dict[str, Any],
    snaps: dict[str, list[dict[str, Any]]],
    now: datetime,
) -> dict[str, Any]:
    resolved = []
    for row in rows:
        result = results.get(row["game_id"])
        y = _outcome(row, ptype, result if result and result["known_at"] <= now else None)
        if y is not None:
            resolved.append((row, y))
    out: dict[str, Any] = {"predictions": len(rows), "resolved": len(resolved)}
    if resolved:
        s = scores(np.array([y for _, y in resolved], dtype=np.float64),
                   np.array([r[PROB[ptype]] for r, _ in resolved], dtype=np.float64))  # fmt: skip
        out |= {"accuracy": s["accuracy"], "brier": s["brier"], "log_loss": s["log_loss"],
                "auc": None if np.isnan(s["auc"]) else s["auc"]}  # fmt: skip
    else:
        out |= {"accuracy": None, "brier": None, "log_loss": None, "auc": None}
    profits, stakes, clv = [], [], []
    for row, y in resolved:
        bet = json.loads(row["recommendations"])[ptype]
        if not bet.get("recommended"):
            continue
        won = y == 1 if bet["side"] in ("home", "over") else y == 0
        profits.append(bet["decimal_odds"] - 1 if won else -1.0)
        stakes.append(bet["recommended_bet_size"])
        game = games.get(row["game_id"])
        close = (_closing(snaps.get(row["game_id"], []), game["scheduled_start"], bet)
                 if game else None)  # fmt: skip
        if close is not None:
            clv.append(bet["decimal_odds"] / close - 1)
    staked = sum(stakes)
    out |= {
        "bets": len(profits),
        "bets_won": sum(1 for p in profits if p > 0),
        "roi": sum(profits) / len(profits) if profits else None,
        "roi_staked": sum(p * s for p, s in zip(profits, stakes, strict=True)) / staked
        if staked
        else None,
        "closing_line_value": sum(clv) / len(clv) if clv else None,
        "clv_bets": len(clv),
        "logged": sum(r["logged"] for r in rows),
    }
    return out
