"""Read games, results, odds snapshots and announcements from PostgreSQL into Polars frames.

Timestamps travel as epoch microseconds, so nothing depends on text time-zone parsing.
"""

from __future__ import annotations

import contextlib
import functools
import io
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
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
# Every moneyline and total snapshot: features take the first and the last known by each
# horizon (features/lines.py), which is always before first pitch.
SNAPSHOT_SQL = """SELECT s.game_id, s.market, s.source,
    (extract(epoch FROM s.observed_at) * 1000000)::bigint AS observed_at,
    s.home_price, s.away_price, s.over_price, s.under_price, s.line
    FROM odds_snapshots s WHERE s.market IN ('moneyline', 'total')"""
ANNOUNCED_SQL = """SELECT a.game_id, a.side, a.kind, array_to_string(a.players, ' ') AS players,
    (extract(epoch FROM a.known_at) * 1000000)::bigint AS known_at FROM lineup_snapshots a"""
# Where the incremental state is: the oldest transaction still running when it last read.
# Any result written since has change_xid >= it (migration 0007), committed or not then.
MARK_SQL = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
# One statement, one snapshot: the new mark, and whether anything changed since the old one
# (the newest change_xid, read off the end of its index: constant time, whatever the stats).
CHANGED_SQL = (
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS mark, "
    "COALESCE((SELECT max(change_xid) FROM game_results) >= $1::text::xid8, false) AS changed"
)

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
SNAPSHOT_SCHEMA = {
    "game_id": pl.String,
    "market": pl.String,
    "source": pl.String,
    "observed_at": pl.Int64,
    "home_price": pl.Int64,
    "away_price": pl.Int64,
    "over_price": pl.Int64,
    "under_price": pl.Int64,
    "line": pl.Float64,
}
ANNOUNCED_SCHEMA = {
    "game_id": pl.String,
    "side": pl.String,
    "kind": pl.String,
    "players": pl.String,
    "known_at": pl.Int64,
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


def _one_snapshot(conn: Conn) -> AbstractAsyncContextManager[Any]:
    """Reads that must see one snapshot: a repeatable-read transaction, or the caller's own
    (whose isolation is then the caller's choice)."""
    if conn.is_in_transaction():
        return contextlib.nullcontext()
    return conn.transaction(isolation="repeatable_read", readonly=True)


@dataclass(frozen=True)
class History:
    """Finished games' facts and the announcements and lines of any game."""

    games: pl.DataFrame
    results: pl.DataFrame
    snapshots: pl.DataFrame
    announced: pl.DataFrame
    mark: int = 0  # MARK_SQL at the snapshot this was read in


def _by_game(sql: str, game_ids: list[str] | None, alias: str) -> tuple[str, tuple[Any, ...]]:
    if game_ids is None:
        return sql, ()
    glue = " AND " if " WHERE " in sql else " WHERE "
    return f"{sql}{glue}{alias}.game_id = ANY($1)", (game_ids,)


async def load_snapshots(conn: Conn, game_ids: list[str] | None = None) -> pl.DataFrame:
    """Moneyline and total snapshots (of ``game_ids``, or all)."""
    sql, args = _by_game(SNAPSHOT_SQL, game_ids, "s")
    return _times(await _frame(conn, sql, args, SNAPSHOT_SCHEMA), "observed_at")


async def load_announced(conn: Conn, game_ids: list[str] | None = None) -> pl.DataFrame:
    """Starter and lineup announcements (of ``game_ids``, or all); players as a list."""
    sql, args = _by_game(ANNOUNCED_SQL, game_ids, "a")
    frame = _times(await _frame(conn, sql, args, ANNOUNCED_SCHEMA), "known_at")
    return frame.with_columns(pl.col("players").str.split(" "))


async def load_results(
    conn: Conn, *, until: datetime | None = None, since_mark: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Results known by ``until`` (or changed since ``since_mark``) and their games."""
    args: tuple[Any, ...]
    if since_mark is not None:
        where, args = " WHERE r.change_xid >= $1::text::xid8", (str(since_mark),)
    elif until is not None:
        where, args = " WHERE r.known_at <= $1", (until,)
    else:
        where, args = "", ()
    results = _times(await _frame(conn, RESULT_SQL + where, args, RESULT_SCHEMA), "known_at")
    game_where = (
        "" if not where else " WHERE g.game_id IN (SELECT game_id FROM game_results r" + where + ")"
    )
    games = _games(await _frame(conn, GAME_SQL + game_where, args, GAME_SCHEMA))
    return games, results


async def load_history(conn: Conn, until: datetime | None = None) -> History:
    """Games and results known by ``until`` (all if None), every snapshot and announcement,
    read in one snapshot of the database together with its mark."""
    async with _one_snapshot(conn):
        mark = int(await conn.fetchval(MARK_SQL))
        games, results = await load_results(conn, until=until)
        return History(games, results, await load_snapshots(conn), await load_announced(conn), mark)


@functools.cache
def _nothing() -> tuple[pl.DataFrame, pl.DataFrame]:
    """No games and no results (frames are never changed in place: one pair serves all)."""
    return _games(pl.DataFrame(schema=GAME_SCHEMA)), _times(
        pl.DataFrame(schema=RESULT_SCHEMA), "known_at"
    )


async def load_changes(conn: Conn, since_mark: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Results written since ``since_mark`` (and some seen before), their games, and the new
    mark: one snapshot. When nothing changed, one round trip."""
    row = await conn.fetchrow(CHANGED_SQL, str(since_mark))
    assert row is not None
    if not row["changed"]:
        return (*_nothing(), int(row["mark"]))
    async with _one_snapshot(conn):
        mark = int(await conn.fetchval(MARK_SQL))
        games, results = await load_results(conn, since_mark=since_mark)
    return games, results, mark


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
