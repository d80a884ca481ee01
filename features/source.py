"""Read games, results and opening lines from PostgreSQL into Polars frames.

Timestamps travel as epoch microseconds, so nothing depends on text time-zone parsing.
Only the opening line is read (from the odds snapshots): the closing line is set at first
pitch, after every cutoff.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from storage.postgres import Conn

UTC_US = pl.Datetime("us", "UTC")
STATS = ("h", "hr", "bb", "k", "e", "er")

GAME_SQL = """SELECT g.game_id, g.season, g.game_date::text AS game_date, g.game_num,
    g.game_type, g.home_team, g.away_team, g.home_sp_id, g.away_sp_id, g.park_id, g.day_night,
    (extract(epoch FROM g.scheduled_start) * 1000000)::bigint AS scheduled_start,
    array_to_string(g.home_lineup, ' ') AS home_lineup,
    array_to_string(g.away_lineup, ' ') AS away_lineup
    FROM games g"""
RESULT_SQL = (
    "SELECT r.game_id, (extract(epoch FROM r.known_at) * 1000000)::bigint AS known_at, "
    "r.home_score, r.away_score, "
    + ", ".join(f"r.{side}_{s}" for side in ("home", "away") for s in STATS)
    + " FROM game_results r"
)
# The opening line: each market's first snapshot seen before first pitch (the workbooks'
# opening quote, or the first a live source sent), known once both markets' are.
ODDS_SQL = """SELECT coalesce(m.game_id, t.game_id) AS game_id,
    (extract(epoch FROM greatest(m.observed_at, t.observed_at)) * 1000000)::bigint
    AS open_known_at, m.home_price AS open_ml_home, m.away_price AS open_ml_away,
    t.line AS open_total, t.over_price AS open_over_price, t.under_price AS open_under_price
    FROM (SELECT DISTINCT ON (s.game_id) s.game_id, s.observed_at, s.home_price, s.away_price
          FROM odds_snapshots s JOIN games g USING (game_id)
          WHERE s.market = 'moneyline' AND s.observed_at < g.scheduled_start
          ORDER BY s.game_id, s.observed_at, s.source) m
    FULL JOIN (SELECT DISTINCT ON (s.game_id) s.game_id, s.observed_at, s.line, s.over_price,
          s.under_price FROM odds_snapshots s JOIN games g USING (game_id)
          WHERE s.market = 'total' AND s.observed_at < g.scheduled_start
          ORDER BY s.game_id, s.observed_at, s.source) t ON t.game_id = m.game_id"""

GAME_SCHEMA = {
    "game_id": pl.String,
    "season": pl.Int64,
    "game_date": pl.String,
    "game_num": pl.Int64,
    "game_type": pl.String,
    "home_team": pl.String,
    "away_team": pl.String,
    "home_sp_id": pl.String,
    "away_sp_id": pl.String,
    "park_id": pl.String,
    "day_night": pl.String,
    "scheduled_start": pl.Int64,
    "home_lineup": pl.String,
    "away_lineup": pl.String,
}
RESULT_SCHEMA = {
    "game_id": pl.String,
    "known_at": pl.Int64,
    "home_score": pl.Int64,
    "away_score": pl.Int64,
    **{f"{side}_{s}": pl.Int64 for side in ("home", "away") for s in STATS},
}
ODDS_SCHEMA = {
    "game_id": pl.String,
    "open_known_at": pl.Int64,
    "open_ml_home": pl.Int64,
    "open_ml_away": pl.Int64,
    "open_total": pl.Float64,
    "open_over_price": pl.Int64,
    "open_under_price": pl.Int64,
}


async def _frame(
    conn: Conn, sql: str, args: tuple[Any, ...], schema: dict[str, Any]
) -> pl.DataFrame:
    buffer = io.BytesIO()
    await conn.copy_from_query(sql, *args, output=buffer, format="csv", header=True)
    buffer.seek(0)
    return pl.read_csv(buffer, schema=schema)  # type: ignore[arg-type]


def _times(frame: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(UTC_US) for c in cols)


def _games(frame: pl.DataFrame) -> pl.DataFrame:
    # Lineups travel as space-separated ids (player ids never hold a space).
    return _times(frame, "scheduled_start").with_columns(
        pl.col("game_date").str.to_date(),
        *(
            pl.col(c)
            .fill_null("")
            .str.split(" ")
            .list.eval(pl.element().filter(pl.element() != ""))
            for c in ("home_lineup", "away_lineup")
        ),
    )


async def load_history(
    conn: Conn, until: datetime | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Games, results known by ``until`` (all if None) and opening lines."""
    where, args = ("", ()) if until is None else (" WHERE r.known_at <= $1", (until,))
    results = _times(await _frame(conn, RESULT_SQL + where, args, RESULT_SCHEMA), "known_at")
    game_where = (
        ""
        if until is None
        else " WHERE g.game_id IN (SELECT game_id FROM game_results r" + where + ")"
    )
    games = _games(await _frame(conn, GAME_SQL + game_where, args, GAME_SCHEMA))
    odds = _times(await _frame(conn, ODDS_SQL, (), ODDS_SCHEMA), "open_known_at")
    return games, results, odds


async def load_games(
    conn: Conn,
    *,
    game_ids: list[str] | None = None,
    on_date: date | None = None,
    season: int | None = None,
) -> pl.DataFrame:
    """Target games by id, by calendar date (US/Eastern-independent: the game's own date) or
    season."""
    args: tuple[Any, ...]
    if game_ids is not None:
        sql, args = GAME_SQL + " WHERE g.game_id = ANY($1)", (game_ids,)
    elif on_date is not None:
        sql, args = GAME_SQL + " WHERE g.game_date = $1", (on_date,)
    elif season is not None:
        sql, args = GAME_SQL + " WHERE g.season = $1", (season,)
    else:
        sql, args = GAME_SQL, ()
    return _games(await _frame(conn, sql, args, GAME_SCHEMA))


def with_cutoffs(
    games: pl.DataFrame, cutoff_minutes: int, now: datetime | None = None
) -> pl.DataFrame:
    """Targets: cutoff = first pitch - cutoff_minutes; horizon = min(cutoff, now)."""
    cutoff = pl.col("scheduled_start") - timedelta(minutes=cutoff_minutes)
    horizon = cutoff if now is None else pl.min_horizontal(cutoff, pl.lit(now, dtype=UTC_US))
    return games.with_columns(cutoff.alias("cutoff"), horizon.alias("horizon"))
