"""Resolved predictions: the maintained outcome rows of migration 0006 and what the model
endpoints read from them.

One row per (prediction type, model version, game) holds the game's latest logged
prediction by that version (greatest ``(predicted_at, record_id)``), how many records it
logged, and its outcome against the game's result and the last odds snapshot at or before
first pitch. Triggers queue every change in the writer's own transaction; :func:`resolve`
folds the queue (``outcomes_resolve()`` in SQL). Readers resolve first, so what they show
includes everything committed before the request. A row counts as resolved only once the
service's clock has passed its result's ``known_at`` (a pinned clock sees the past as it was).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from storage.postgres import Conn

RESOLVE_BATCH = 50_000  # queue entries per transaction: bounds one resolver's locks and memory


async def resolve(conn: Conn, batch: int = RESOLVE_BATCH) -> int:
    """Fold everything queued so far; returns the number of queue entries taken."""
    total = 0
    while True:
        taken = int(await conn.fetchval("SELECT outcomes_resolve($1)", batch))
        total += taken
        if taken < batch:
            return total


async def queued(conn: Conn) -> int:
    """Entries waiting to be folded: markers and keys of logged statements."""
    return int(await conn.fetchval("SELECT outcomes_queued()"))


@dataclass(frozen=True)
class Window:
    """Which games count: those whose latest prediction was made in the last ``days`` (up to
    now), or, with a date range, those played on ``date_from`` … ``date_to`` (local game
    dates, inclusive) and predicted by now."""

    days: int
    date_from: date | None = None
    date_to: date | None = None

    @property
    def dates(self) -> bool:
        return self.date_from is not None and self.date_to is not None


# $1 prediction type, $2 now, $3 the version (or NULL: every version), $4.. the window
WINDOW_DAYS = "o.predicted_at <= $2 AND o.predicted_at >= $4"
WINDOW_DATES = "o.predicted_at <= $2 AND o.game_date BETWEEN $4 AND $5"
ONE_VERSION = "AND o.model_version = $3"
EVERY_VERSION = "AND $3::text IS NULL"


# Per version: the averages over resolved rows, AUC from average ranks (Mann-Whitney, ties
# shared, as scikit-learn computes it), ROI over recommended bets, CLV over those bets
# whose side the closing snapshot priced.
PERFORMANCE_SQL = """
WITH w AS (
    SELECT o.model_version, o.correct, o.log_loss, o.brier, o.y, o.bet_profit, o.bet_stake,
           o.clv, greatest(1e-6, least(1 - 1e-6, o.probability)) AS p,
           (o.y IS NOT NULL AND o.result_known_at <= $2) AS resolved
    FROM prediction_outcomes o
    WHERE o.prediction_type = $1 AND {window} {version}
), ranked AS (
    SELECT w.*, CASE WHEN resolved THEN
               rank() OVER (PARTITION BY model_version, resolved ORDER BY p)
               + (count(*) OVER (PARTITION BY model_version, resolved, p) - 1) / 2.0
           END AS rnk
    FROM w
)
SELECT model_version AS version,
       count(*) AS predictions,
       count(*) FILTER (WHERE resolved) AS resolved,
       avg(correct::double precision) FILTER (WHERE resolved) AS accuracy,
       avg(brier) FILTER (WHERE resolved) AS brier,
       avg(log_loss) FILTER (WHERE resolved) AS log_loss,
       count(*) FILTER (WHERE resolved AND y = 1) AS positives,
       sum(rnk) FILTER (WHERE resolved AND y = 1) AS positive_ranks,
       count(*) FILTER (WHERE resolved AND bet_profit IS NOT NULL) AS bets,
       count(*) FILTER (WHERE resolved AND bet_profit > 0) AS bets_won,
       avg(bet_profit) FILTER (WHERE resolved) AS roi,
       sum(bet_profit * bet_stake) FILTER (WHERE resolved) AS profit_staked,
       sum(bet_stake) FILTER (WHERE resolved) AS staked,
       avg(clv) FILTER (WHERE resolved) AS closing_line_value,
       count(clv) FILTER (WHERE resolved) AS clv_bets
FROM ranked GROUP BY model_version ORDER BY model_version
"""


def _auc(row: Any) -> float | None:
    n1, n0 = int(row["positives"]), int(row["resolved"]) - int(row["positives"])
    if n1 == 0 or n0 == 0:
        return None
    return (float(row["positive_ranks"]) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _shape(row: Any, prediction_type: str) -> dict[str, Any]:
    resolved = int(row["resolved"])
    staked = row["staked"]
    return {
        "prediction_type": prediction_type,
        "predictions": int(row["predictions"]),
        "resolved": resolved,
        "pending": int(row["predictions"]) - resolved,
        "accuracy": row["accuracy"],
        "brier": row["brier"],
        "log_loss": row["log_loss"],
        "auc": _auc(row),
        "bets": int(row["bets"]),
        "bets_won": int(row["bets_won"]),
        "roi": row["roi"],
        "roi_staked": row["profit_staked"] / staked if staked else None,
        "closing_line_value": row["closing_line_value"],
        "clv_bets": int(row["clv_bets"]),
    }


def empty(prediction_type: str) -> dict[str, Any]:
    """The performance of a version with nothing in the window."""
    return _shape(
        {"predictions": 0, "resolved": 0, "accuracy": None, "brier": None, "log_loss": None,
         "positives": 0, "positive_ranks": None, "bets": 0, "bets_won": 0, "roi": None,
         "profit_staked": None, "staked": None, "closing_line_value": None, "clv_bets": 0},
        prediction_type,
    )  # fmt: skip


async def performance(
    conn: Conn,
    prediction_type: str,
    now: datetime,
    window: Window,
    version: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Each model version's figures in the window (only the one asked for, if any)."""
    clause = WINDOW_DAYS
    args: list[Any] = [prediction_type, now, version, now - timedelta(days=window.days)]
    if window.dates:
        clause = WINDOW_DATES
        args[3:] = [window.date_from, window.date_to]
    which = EVERY_VERSION
    if version is not None:
        which = ONE_VERSION
    rows = await conn.fetch(PERFORMANCE_SQL.format(window=clause, version=which), *args)
    return {r["version"]: _shape(r, prediction_type) for r in rows}


RECENT_SQL = """
SELECT o.game_id, o.predicted_at, o.probability, o.recommendation,
       (o.result_known_at <= $2) AS final,
       CASE WHEN o.result_known_at <= $2 THEN o.y END AS y,
       CASE WHEN o.result_known_at <= $2 THEN o.home_score END AS home_score,
       CASE WHEN o.result_known_at <= $2 THEN o.away_score END AS away_score
FROM prediction_outcomes o
WHERE o.prediction_type = $1 AND o.model_version = $3 AND o.predicted_at <= $2
  AND o.predicted_at >= $4 {finished}
ORDER BY o.predicted_at DESC, o.record_id DESC
LIMIT $5
"""


async def recent(
    conn: Conn,
    prediction_type: str,
    version: str,
    now: datetime,
    days: int,
    limit: int,
    finished_only: bool,
) -> list[dict[str, Any]]:
    """The version's latest prediction per game, newest first, with outcomes known by now."""
    finished = ""
    if finished_only:
        finished = "AND o.result_known_at <= $2"
    rows = await conn.fetch(
        RECENT_SQL.format(finished=finished),
        prediction_type,
        now,
        version,
        now - timedelta(days=days),
        limit,
    )
    out = []
    for row in rows:
        d = dict(row)
        d["recommendation"] = json.loads(d["recommendation"])
        out.append(d)
    return out


async def total_logged(conn: Conn, prediction_type: str, version: str) -> int:
    """Every record the version logged (cache hits and repeats included)."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(logged), 0) FROM prediction_outcomes "
            "WHERE prediction_type = $1 AND model_version = $2",
            prediction_type,
            version,
        )
    )


shape = _shape  # one aggregate row's figures (storage/backtests.py reads runs' rows with it)
