"""Load one betting-line workbook into PostgreSQL: its games joined to the loaded game logs,
the matched lines as ``odds`` rows and odds snapshots, the rest as ``odds_unmatched``, in one
transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest import odds as odds_module
from ingest.errors import IngestError
from ingest.files import record_loaded, sha256_of, unchanged
from ingest.join import GameKey, join_odds
from ingest.odds import OddsGame, read_workbook, season_of
from storage.postgres import Conn

ODDS_COLUMNS = (
    "game_id",
    "season",
    "swapped",
    "neutral",
    "open_known_at",
    "close_known_at",
    "away_pitcher",
    "home_pitcher",
    "open_ml_away",
    "open_ml_home",
    "close_ml_away",
    "close_ml_home",
    "run_line_away",
    "run_line_away_price",
    "run_line_home",
    "run_line_home_price",
    "open_total",
    "open_over_price",
    "open_under_price",
    "close_total",
    "close_over_price",
    "close_under_price",
    "source_file",
    "source_row",
)
# The workbooks carry no timestamps: the opening line is taken as known at 09:00 local on
# game day (before any cutoff), the closing line at the scheduled first pitch.
OPENING_LINE_LOCAL = clock_time(9, 0)


# A workbook's lines as odds snapshots (the history half of the one odds time series): the
# opening line at its assumed known time (kept without prices where the workbook has none, as
# the odds table holds it), the closing line and the run line at first pitch.
# Migration 0004 did the same once for databases loaded before snapshots existed.
WORKBOOK_SNAPSHOTS = """
INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price, away_price,
                            over_price, under_price, line)
SELECT game_id, 'moneyline', 'workbook', open_known_at, open_ml_home, open_ml_away,
       NULL::integer, NULL::integer, NULL::real FROM odds WHERE source_file = $1
UNION ALL
SELECT game_id, 'moneyline', 'workbook', close_known_at, close_ml_home, close_ml_away, NULL,
       NULL, NULL FROM odds WHERE source_file = $1
       AND (close_ml_home IS NOT NULL OR close_ml_away IS NOT NULL)
UNION ALL
SELECT game_id, 'total', 'workbook', open_known_at, NULL, NULL, open_over_price,
       open_under_price, open_total FROM odds WHERE source_file = $1
UNION ALL
SELECT game_id, 'total', 'workbook', close_known_at, NULL, NULL, close_over_price,
       close_under_price, close_total FROM odds WHERE source_file = $1 AND close_total IS NOT NULL
UNION ALL
SELECT game_id, 'run_line', 'workbook', close_known_at, run_line_home_price,
       run_line_away_price, NULL, NULL, run_line_home FROM odds
       WHERE source_file = $1 AND run_line_home IS NOT NULL
ON CONFLICT DO NOTHING
"""
DROP_WORKBOOK_SNAPSHOTS = """
DELETE FROM odds_snapshots WHERE source = 'workbook'
    AND game_id IN (SELECT game_id FROM odds WHERE source_file = $1)
"""


def _odds_record(
    game_id: str, odds: OddsGame, swapped: bool, start: datetime, tz: str, source: str
) -> tuple[object, ...]:
    opened = datetime.combine(odds.odds_date, OPENING_LINE_LOCAL, ZoneInfo(tz)).astimezone(UTC)
    values: dict[str, object] = {
        **{k: getattr(odds, k) for k in ODDS_COLUMNS if hasattr(odds, k)},
        "game_id": game_id,
        "swapped": swapped,
        "open_known_at": min(opened, start),
        "close_known_at": start,
        "source_file": source,
    }
    return tuple(values[c] for c in ODDS_COLUMNS)


async def load_workbook(conn: Conn, path: Path) -> tuple[bool, list[str]]:
    """Load one workbook; returns False when the same bytes were loaded before, and the
    reader's warnings about its rows."""
    season = season_of(path)
    sha = sha256_of(path)
    if await unchanged(conn, path.name, {season}, sha):
        return False, []
    odds_games = read_workbook(path)
    warnings = list(odds_module.WARNINGS)
    rows = await conn.fetch(
        """SELECT g.game_id, g.game_date, g.game_num, g.away_team, g.home_team,
                  r.away_score, r.home_score, g.scheduled_start, g.park_tz
           FROM games g JOIN game_results r USING (game_id) WHERE g.season = $1""",
        season,
    )
    if not rows:
        raise IngestError(path, None, f"no {season} games are loaded; ingest the game logs first")
    keys = [
        GameKey(
            *(
                r[k]
                for k in (
                    "game_id",
                    "game_date",
                    "game_num",
                    "away_team",
                    "home_team",
                    "away_score",
                    "home_score",
                )
            )
        )
        for r in rows
    ]
    when = {r["game_id"]: (r["scheduled_start"], r["park_tz"]) for r in rows}
    joined = join_odds(odds_games, keys)
    async with conn.transaction():
        await conn.execute(DROP_WORKBOOK_SNAPSHOTS, path.name)
        await conn.execute("DELETE FROM odds WHERE source_file = $1", path.name)
        await conn.execute("DELETE FROM odds_unmatched WHERE source_file = $1", path.name)
        await conn.copy_records_to_table(
            "odds",
            columns=ODDS_COLUMNS,
            records=[
                _odds_record(gid, o, sw, *when[gid], path.name) for gid, o, sw in joined.matched
            ],
        )
        await conn.copy_records_to_table(
            "odds_unmatched",
            columns=(
                "source_file",
                "source_row",
                "season",
                "odds_date",
                "away_code",
                "home_code",
                "reason",
            ),
            records=[
                (path.name, o.source_row, season, o.odds_date, o.away_code, o.home_code, why)
                for o, why in joined.unmatched
            ],
        )
        await conn.execute(WORKBOOK_SNAPSHOTS, path.name)
        await record_loaded(conn, path.name, {season: len(odds_games)}, sha)
    return True, warnings
