"""The one rule for when historical starters and lineups became known, as the loader (and
migration 0007, through the same function) records it."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from ingest.known_times import announce_history, announcements, known_times
from storage.postgres import connect


async def test_history_is_announced_at_the_rules_times(ingested: str) -> None:
    conn: asyncpg.Connection = await connect(ingested)
    try:
        held = await announcements(conn, ["CHN202104010"])
        # First pitch 18:05 UTC (13:05 CDT); the day before at 10:00 CDT is 15:00 UTC.
        times = await known_times(conn, datetime(2021, 4, 1, 18, 5, tzinfo=UTC), "America/Chicago")
        missing = await conn.fetchval(
            "SELECT count(*) FROM games g WHERE g.source_file <> 'feed' AND g.home_sp_id IS NOT "
            "NULL AND NOT EXISTS (SELECT 1 FROM lineup_snapshots s WHERE s.game_id = g.game_id "
            "AND s.kind = 'starter' AND s.side = 'home')"
        )
        late = await conn.fetchval(
            "SELECT count(*) FROM lineup_snapshots s JOIN games g USING (game_id) "
            "WHERE s.known_at > g.scheduled_start - interval '60 minutes'"
        )
    finally:
        await conn.close()
    assert times == {"starter": datetime(2021, 3, 31, 15, 0, tzinfo=UTC),
                     "lineup": datetime(2021, 4, 1, 15, 5, tzinfo=UTC)}  # fmt: skip
    got = {(a["side"], a["kind"]): (a["players"], a["known_at"]) for a in held}
    assert got[("home", "starter")] == (["hendk001"], times["starter"])
    assert got[("away", "starter")] == (["kuhlc001"], times["starter"])
    assert got[("home", "lineup")][1] == times["lineup"] and len(got[("home", "lineup")][0]) == 9
    assert got[("home", "lineup")][0][0] == "happi001"
    assert missing == 0 and late == 0  # every starter announced, all before the cutoff


async def test_announcing_a_file_again_adds_nothing(ingested: str) -> None:
    conn: asyncpg.Connection = await connect(ingested)
    tx = conn.transaction()
    await tx.start()
    try:
        assert await announce_history(conn, "gl2021.txt") == 0
        await conn.execute(
            "DELETE FROM lineup_snapshots WHERE game_id IN "
            "(SELECT game_id FROM games WHERE source_file = 'gl2021.txt')"
        )
        assert await announce_history(conn, "gl2021.txt") == 4 * 2429
    finally:
        await tx.rollback()
        await conn.close()
