"""Read side of the prediction log: a game's latest logged prediction, game facts, a day's
games. (Model statistics are read from the resolved outcomes: ``storage/outcomes.py``.)"""

from __future__ import annotations

import json
from typing import Any

from storage.postgres import Conn


async def latest_logged(conn: Conn, game_id: str, model_name: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM prediction_log WHERE game_id = $1 AND model_name = $2 AND NOT shadow "
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
        "SELECT game_id, home_team, away_team, scheduled_start, game_date, status "
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
