"""The one write path of the live feed: a validated batch into PostgreSQL, in one
transaction, idempotent on each kind's natural key.

- schedule: ``games`` by game id (a changed record updates the game);
- starters, lineups: ``lineup_snapshots`` by (game, side, kind, known_at); the latest
  announced also lands on ``games`` (starting pitchers, batting orders);
- odds: ``odds_snapshots`` by (game, market, source, observed_at); a snapshot with the same
  key and other prices replaces the earlier one;
- results: ``game_results`` by game; a different result replaces the earlier one, which is
  kept in ``game_result_corrections``, and the answer names the game;
- status: ``game_status_changes`` by (game, known_at, status); the latest sets
  ``games.status`` (and the new first pitch of a rescheduled game).

Sending the same batch twice changes nothing. Records for games the database does not hold
(other than schedules) refuse the whole batch, naming each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ingest.feed_records import (
    STATS,
    FeedError,
    FeedRecord,
    Lineup,
    OddsSnapshot,
    Result,
    Schedule,
    Starter,
    StatusChange,
)
from storage.postgres import Conn


@dataclass
class FeedOutcome:
    kind: str
    received: int
    inserted: int = 0
    updated: int = 0  # replaced an earlier record with other values (a correction)
    unchanged: int = 0  # already held exactly: sent twice
    corrected_games: list[str] = field(default_factory=list)
    # The records that inserted or updated something (what re-pricing acts on; a resend of
    # what is held changes nothing and is not here). Not part of the answer.
    changed: list[FeedRecord] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "changed"}


SCHEDULE = """
INSERT INTO games AS g (game_id, game_date, season, game_num, game_type, day_of_week,
    away_team, away_league, home_team, home_league, day_night, park_id, park_tz,
    scheduled_start, away_lineup, home_lineup, source_file, source_line)
VALUES ($1, ($5 AT TIME ZONE $8)::date, extract(year FROM $5 AT TIME ZONE $8)::smallint, $2, $3,
    to_char($5 AT TIME ZONE $8, 'Dy'), $4, $9, $6, $10,
    CASE WHEN extract(hour FROM $5 AT TIME ZONE $8) < 17 THEN 'D' ELSE 'N' END, $7, $8, $5,
    '{}', '{}', 'feed', 0)
ON CONFLICT (game_id) DO UPDATE SET game_num = EXCLUDED.game_num,
    game_type = EXCLUDED.game_type, away_team = EXCLUDED.away_team,
    home_team = EXCLUDED.home_team, park_id = EXCLUDED.park_id, park_tz = EXCLUDED.park_tz,
    scheduled_start = EXCLUDED.scheduled_start, day_night = EXCLUDED.day_night,
    away_league = coalesce(EXCLUDED.away_league, g.away_league),
    home_league = coalesce(EXCLUDED.home_league, g.home_league)
WHERE (g.game_num, g.game_type, g.away_team, g.home_team, g.park_id, g.scheduled_start,
       g.away_league, g.home_league)
    IS DISTINCT FROM (EXCLUDED.game_num, EXCLUDED.game_type, EXCLUDED.away_team,
       EXCLUDED.home_team, EXCLUDED.park_id, EXCLUDED.scheduled_start,
       coalesce(EXCLUDED.away_league, g.away_league), coalesce(EXCLUDED.home_league, g.home_league))
RETURNING (xmax = 0) AS inserted
"""
SNAPSHOT = """
INSERT INTO lineup_snapshots (game_id, side, kind, players, known_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (game_id, side, kind, known_at) DO UPDATE SET players = EXCLUDED.players
WHERE lineup_snapshots.players IS DISTINCT FROM EXCLUDED.players
RETURNING (xmax = 0) AS inserted
"""


# The latest snapshot of each (game, side, kind) is what the game shows.
def _latest(kind: str, column: str, pick: str) -> str:
    """Set ``games.<side>_<column>`` from the latest snapshot of that kind and side."""
    sets = ", ".join(
        f"{side}_{column} = coalesce((SELECT {pick} FROM lineup_snapshots s "
        f"WHERE s.game_id = g.game_id AND s.side = '{side}' AND s.kind = '{kind}' "
        f"ORDER BY s.known_at DESC LIMIT 1), g.{side}_{column})"
        for side in ("home", "away")
    )
    return f"UPDATE games g SET {sets} WHERE g.game_id = ANY($1)"


LATEST_STARTERS = _latest("starter", "sp_id", "s.players[1]")
LATEST_LINEUPS = _latest("lineup", "lineup", "s.players")
ODDS = """
INSERT INTO odds_snapshots AS o (game_id, market, source, observed_at, home_price, away_price,
    over_price, under_price, line) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (game_id, market, source, observed_at) DO UPDATE SET
    home_price = EXCLUDED.home_price, away_price = EXCLUDED.away_price,
    over_price = EXCLUDED.over_price, under_price = EXCLUDED.under_price, line = EXCLUDED.line
WHERE (o.home_price, o.away_price, o.over_price, o.under_price, o.line) IS DISTINCT FROM
      (EXCLUDED.home_price, EXCLUDED.away_price, EXCLUDED.over_price, EXCLUDED.under_price,
       EXCLUDED.line)
RETURNING (xmax = 0) AS inserted
"""
RESULT_COLUMNS = (
    "home_score", "away_score", "known_at", "duration_min", "length_outs",
    *(f"{side}_{s}" for side in ("home", "away") for s in STATS),
)  # fmt: skip
_RESULT_VALUES = ", ".join(f"${i}" for i in range(2, len(RESULT_COLUMNS) + 2))
RESULT = (
    f"INSERT INTO game_results AS r (game_id, {', '.join(RESULT_COLUMNS)}) "
    f"VALUES ($1, {_RESULT_VALUES}) ON CONFLICT (game_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in RESULT_COLUMNS)
    + f" WHERE ({', '.join(f'r.{c}' for c in RESULT_COLUMNS)}) IS DISTINCT FROM "
    f"({', '.join(f'EXCLUDED.{c}' for c in RESULT_COLUMNS)}) RETURNING (xmax = 0) AS inserted"
)
KEEP_PREVIOUS = "INSERT INTO game_result_corrections (game_id, previous) VALUES ($1, $2)"
STATUS = """
INSERT INTO game_status_changes (game_id, status, scheduled_start, reason, known_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (game_id, known_at, status) DO UPDATE SET
    scheduled_start = EXCLUDED.scheduled_start, reason = EXCLUDED.reason
WHERE (game_status_changes.scheduled_start, game_status_changes.reason)
    IS DISTINCT FROM (EXCLUDED.scheduled_start, EXCLUDED.reason)
RETURNING (xmax = 0) AS inserted
"""
LATEST_STATUS = """
UPDATE games g SET status = s.status,
    scheduled_start = coalesce(s.scheduled_start, g.scheduled_start)
FROM (SELECT DISTINCT ON (game_id) game_id, status, scheduled_start FROM game_status_changes
      WHERE game_id = ANY($1) ORDER BY game_id, known_at DESC) s
WHERE g.game_id = s.game_id
"""


def _args(record: FeedRecord) -> tuple[Any, ...]:
    if isinstance(record, Schedule):
        return (record.game_id, record.game_num, record.game_type, record.away_team,
                record.scheduled_start, record.home_team, record.park_id, record.park_tz,
                record.away_league, record.home_league)  # fmt: skip
    if isinstance(record, Starter):
        return record.game_id, record.side, "starter", [record.pitcher_id], record.known_at
    if isinstance(record, Lineup):
        return record.game_id, record.side, "lineup", record.players, record.known_at
    if isinstance(record, OddsSnapshot):
        return (record.game_id, record.market, record.source, record.observed_at,
                record.home_price, record.away_price, record.over_price, record.under_price,
                record.line)  # fmt: skip
    if isinstance(record, Result):
        return (record.game_id, *(getattr(record, c) for c in RESULT_COLUMNS))
    assert isinstance(record, StatusChange)
    return (record.game_id, record.status, record.scheduled_start, record.reason,
            record.known_at)  # fmt: skip


STATEMENT = {Schedule: SCHEDULE, Starter: SNAPSHOT, Lineup: SNAPSHOT, OddsSnapshot: ODDS,
             Result: RESULT, StatusChange: STATUS}  # fmt: skip
AFTER = {Starter: LATEST_STARTERS, Lineup: LATEST_LINEUPS, StatusChange: LATEST_STATUS}


async def _known_games(conn: Conn, records: list[FeedRecord]) -> None:
    ids = sorted({r.game_id for r in records})
    held = {r["game_id"] for r in await conn.fetch(
        "SELECT game_id FROM games WHERE game_id = ANY($1)", ids)}  # fmt: skip
    missing = [
        {"index": i, "field": "game_id", "reason": "unknown game; send its schedule first"}
        for i, r in enumerate(records)
        if r.game_id not in held
    ]
    if missing:
        raise FeedError(f"{len(missing)} record(s) name unknown games; nothing was written",
                        missing)  # fmt: skip


async def write(conn: Conn, kind: str, records: list[FeedRecord]) -> FeedOutcome:
    """Write a validated batch: all of it or (on any error) nothing."""
    outcome = FeedOutcome(kind, len(records))
    if not records:
        return outcome
    model = type(records[0])
    async with conn.transaction():
        if model is not Schedule:
            await _known_games(conn, records)
        for record in records:
            previous = None
            if model is Result:  # what a correction replaces is kept
                previous = await conn.fetchval(
                    "SELECT to_jsonb(r) FROM game_results r WHERE game_id = $1", record.game_id
                )
            row = await conn.fetchrow(STATEMENT[model], *_args(record))
            if row is None:
                outcome.unchanged += 1
            elif row["inserted"]:
                outcome.inserted += 1
                outcome.changed.append(record)
            else:
                outcome.updated += 1
                outcome.changed.append(record)
                if previous is not None:
                    await conn.execute(KEEP_PREVIOUS, record.game_id, previous)
                    outcome.corrected_games.append(record.game_id)
        if model in AFTER:
            await conn.execute(AFTER[model], sorted({r.game_id for r in records}))
    return outcome
