"""Champion and challengers on the same resolved games: the per-game outcome rows of every
version asked for, read from the maintained outcomes (``storage/outcomes.py``), for the
games the first version (the champion) resolved in the window, most recent first and at
most ``limit`` of them. One index range of the champion's rows, then one primary-key probe
per game and version: the work is bounded by ``limit``, whatever the size of the log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from storage.outcomes import Window
from storage.postgres import Conn

# $1 prediction type, $2 now, $3 champion, $4 every version, $5 limit, $6.. the window
WINDOW_DAYS = "{o}.predicted_at <= $2 AND {o}.predicted_at >= $6"
WINDOW_DATES = "{o}.predicted_at <= $2 AND {o}.game_date BETWEEN $6 AND $7"
RESOLVED = "{o}.y IS NOT NULL AND {o}.result_known_at <= $2"

PAIRS_SQL = """
WITH games AS (
    SELECT c.game_id FROM prediction_outcomes c
    WHERE c.prediction_type = $1 AND c.model_version = $3 AND {resolved_c} AND {window_c}
    ORDER BY c.predicted_at DESC, c.game_id
    LIMIT $5
)
SELECT o.game_id, o.model_version,
       greatest(1e-6, least(1 - 1e-6, o.probability)) AS p, o.y, o.correct, o.log_loss,
       o.brier, o.bet_profit, o.clv
FROM games g JOIN prediction_outcomes o
  ON o.prediction_type = $1 AND o.game_id = g.game_id AND o.model_version = ANY($4::text[])
WHERE {resolved_o} AND {window_o}
"""


async def rows(
    conn: Conn,
    prediction_type: str,
    now: datetime,
    window: Window,
    champion: str,
    versions: list[str],
    limit: int,
) -> list[dict[str, Any]]:
    """The resolved outcome rows of ``versions`` (the champion's included) on the champion's
    latest ``limit`` resolved games in the window."""
    clause = WINDOW_DAYS
    args: list[Any] = [prediction_type, now, champion, versions, limit]
    if window.dates:
        clause = WINDOW_DATES
        args += [window.date_from, window.date_to]
    else:
        args.append(now - timedelta(days=window.days))
    sql = PAIRS_SQL.format(
        resolved_c=RESOLVED.format(o="c"),
        window_c=clause.format(o="c"),
        resolved_o=RESOLVED.format(o="o"),
        window_o=clause.format(o="o"),
    )
    return [dict(r) for r in await conn.fetch(sql, *args)]
