"""A few games' own facts in one round trip: the game, its announcements and its odds
snapshots, as Python values for the lookups of ``features/lookup.py``.

The Polars path reads the same three things with three COPY queries
(``features/source.py``); here one statement aggregates each game's announcements and
snapshots beside its row. Values travel exactly as there: times as epoch microseconds,
players joined by spaces, and a total's line (``real``) as its text, which is what the CSV
carries and what the Polars path parses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from storage.postgres import Conn

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)

FACTS_SQL = """SELECT g.game_id, g.season, g.game_date, g.game_num, g.game_type, g.home_team,
    g.away_team, g.park_id, g.day_night,
    (extract(epoch FROM g.scheduled_start) * 1000000)::bigint AS scheduled_start,
    (SELECT json_agg(json_build_array(a.side, a.kind, array_to_string(a.players, ' '),
        (extract(epoch FROM a.known_at) * 1000000)::bigint))
        FROM lineup_snapshots a WHERE a.game_id = g.game_id) AS announced,
    (SELECT json_agg(json_build_array(s.market, s.source,
        (extract(epoch FROM s.observed_at) * 1000000)::bigint, s.home_price, s.away_price,
        s.over_price, s.under_price, s.line::text))
        FROM odds_snapshots s
        WHERE s.game_id = g.game_id AND s.market IN ('moneyline', 'total')) AS snapshots
    FROM games g WHERE g.game_id = ANY($1)"""

Announcement = tuple[str, str, str, int]  # side, kind, players joined by spaces, known_at
# market, source, observed_at, home, away, over and under price, line
Snapshot = tuple[str, str, int, int | None, int | None, int | None, int | None, float | None]


def micros(moment: datetime) -> int:
    """Epoch microseconds of an aware moment (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MICRO


@dataclass(frozen=True)
class Target:
    """One game as a target: its columns, cutoff and horizon (min(cutoff, now)) in epoch
    microseconds, and every announcement and odds snapshot of it (the lookup keeps those
    known by the horizon)."""

    game_id: str
    season: int
    game_date: date
    game_num: int
    game_type: str
    home_team: str
    away_team: str
    park_id: str
    day_night: str
    scheduled_start: int
    cutoff: int
    horizon: int
    announced: tuple[Announcement, ...]
    snapshots: tuple[Snapshot, ...]


def _snapshot(raw: list[object]) -> Snapshot:
    market, source, seen, home, away, over, under, line = raw
    assert isinstance(market, str) and isinstance(source, str) and isinstance(seen, int)
    number = float(line) if isinstance(line, str) else None
    return (market, source, seen, home, away, over, under, number)  # type: ignore[return-value]


async def load_facts(
    conn: Conn, game_ids: list[str], *, cutoff_minutes: int, now: datetime | None
) -> list[Target]:
    """The known games of ``game_ids`` as targets (in no particular order)."""
    rows = await conn.fetch(FACTS_SQL, game_ids)
    offset = cutoff_minutes * 60 * 1_000_000
    limit = None if now is None else micros(now)
    out = []
    for r in rows:
        cutoff = r["scheduled_start"] - offset
        announced = json.loads(r["announced"]) if r["announced"] else []
        snapshots = json.loads(r["snapshots"]) if r["snapshots"] else []
        out.append(
            Target(
                game_id=r["game_id"],
                season=r["season"],
                game_date=r["game_date"],
                game_num=r["game_num"],
                game_type=r["game_type"],
                home_team=r["home_team"],
                away_team=r["away_team"],
                park_id=r["park_id"],
                day_night=r["day_night"],
                scheduled_start=r["scheduled_start"],
                cutoff=cutoff,
                horizon=cutoff if limit is None else min(cutoff, limit),
                announced=tuple((a[0], a[1], a[2], a[3]) for a in announced),
                snapshots=tuple(_snapshot(s) for s in snapshots),
            )
        )
    return out
