"""What re-pricing reads from PostgreSQL: the games a feed batch touched, the current price
of each market, the prediction standing at a game's cutoff, the games frozen now, and the
games called off (postponed or cancelled: nothing to predict)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.postgres import Conn

GAMES = """SELECT game_id, game_date, scheduled_start, status, home_team, away_team
FROM games WHERE game_id = ANY($1)"""
# The price a client can bet now: each market's latest snapshot seen by then (any source).
PRICES = """SELECT DISTINCT ON (game_id, market) game_id, market, source, observed_at,
    home_price, away_price, over_price, under_price, line
FROM odds_snapshots WHERE game_id = ANY($1) AND observed_at <= $2
    AND market IN ('moneyline', 'total')
ORDER BY game_id, market, observed_at DESC, source"""
# The latest prediction made before its cutoff (else the latest made after it, from the same
# frozen features). Challengers' shadow answers never stand.
STANDING = """SELECT DISTINCT ON (game_id) game_id, predicted_at, feature_cutoff, model_name,
    home_ml_probability, total_over_probability, odds_used, recommendations
FROM prediction_log WHERE game_id = ANY($1) AND NOT shadow
ORDER BY game_id, (predicted_at <= feature_cutoff) DESC, predicted_at DESC"""


# Games past their cutoff and not yet started, whose cutoff is at or after ``since``: their
# features are frozen as of the cutoff, so a fact known by then that arrives now changes them.
FROZEN = """SELECT game_id FROM games
WHERE scheduled_start > $2 AND scheduled_start <= $2 + make_interval(mins => $3)
  AND scheduled_start - make_interval(mins => $3) >= $1"""


async def frozen_since(
    conn: Conn, since: datetime, now: datetime, cutoff_minutes: int
) -> list[str]:
    """Games frozen at ``now`` whose features could hold a fact known at ``since``."""
    return [r["game_id"] for r in await conn.fetch(FROZEN, since, now, cutoff_minutes)]


CALLED_OFF_STATUSES = ("postponed", "cancelled")
CALLED_OFF = """SELECT game_id, status FROM games
WHERE game_id = ANY($1) AND status = ANY($2::text[])"""


async def called_off(conn: Conn, game_ids: list[str]) -> dict[str, str]:
    """game -> its status, for those of ``game_ids`` postponed or cancelled."""
    rows = await conn.fetch(CALLED_OFF, game_ids, list(CALLED_OFF_STATUSES))
    return {r["game_id"]: r["status"] for r in rows}


async def games(conn: Conn, game_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r["game_id"]: dict(r) for r in await conn.fetch(GAMES, game_ids)}


async def current_prices(
    conn: Conn, game_ids: list[str], now: datetime
) -> dict[str, dict[str, dict[str, Any]]]:
    """game -> market -> its latest snapshot at ``now``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in await conn.fetch(PRICES, game_ids, now):
        out.setdefault(row["game_id"], {})[row["market"]] = dict(row)
    return out


async def standing(conn: Conn, game_ids: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in await conn.fetch(STANDING, game_ids):
        d = dict(row)
        d["odds_used"] = json.loads(d["odds_used"])
        d["recommendations"] = json.loads(d["recommendations"])
        out[d["game_id"]] = d
    return out
