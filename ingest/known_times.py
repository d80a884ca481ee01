"""When historical starters and lineups became known: the one rule, and where it is applied.

The game logs say who started and who batted, never when it was announced. firstpitch
takes a starting pitcher as known at **10:00 local time the day before the game** (clubs name
probable starters a day or more ahead) and a batting order as known **three hours before
first pitch** (lineups are posted a few hours before the game). Both lie before the default
cutoff, so a training row sees the starters and lineups a live prediction at the cutoff
would have seen. A replay sends exactly these records, with exactly these times.

The rule lives in PostgreSQL, as the functions ``starter_known_at(game_date, park_tz)`` and
``lineup_known_at(scheduled_start)`` of migration 0007, which also backfilled databases
loaded before; ``announce_history`` applies it to a loaded game-log file (the loader calls it
in the same transaction). What the feed announces keeps its own known time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.postgres import Conn

ANNOUNCED = """SELECT a.game_id, a.side, a.kind, a.players, a.known_at FROM lineup_snapshots a
    WHERE a.game_id = ANY($1) ORDER BY a.known_at, a.game_id, a.side, a.kind"""


async def announce_history(conn: Conn, source_file: str) -> int:
    """Record the starters and lineups of one loaded game-log file as announcements at the
    rule's times; returns how many were new."""
    return int(await conn.fetchval("SELECT announce_history($1)", source_file))


async def known_times(conn: Conn, scheduled_start: datetime, park_tz: str) -> dict[str, Any]:
    """The rule's times for a game starting at ``scheduled_start`` in ``park_tz``."""
    row = await conn.fetchrow(
        "SELECT starter_known_at(($1 AT TIME ZONE $2)::date, $2) AS starter, "
        "lineup_known_at($1) AS lineup",
        scheduled_start,
        park_tz,
    )
    assert row is not None
    return {"starter": row["starter"], "lineup": row["lineup"]}


async def announcements(conn: Conn, game_ids: list[str]) -> list[dict[str, Any]]:
    """The games' announcements in known-time order (what a replay sends as starters and
    lineups)."""
    return [dict(r) for r in await conn.fetch(ANNOUNCED, game_ids)]
