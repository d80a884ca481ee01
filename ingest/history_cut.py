"""A database that ends where a replay begins: the history strictly before a date.

A season replay plays the files forward from a date through the live feed; the database it
starts from must not already hold those games (else every record it sends is "unchanged"
and nothing follows from it). The files are loaded whole, then every game on or after the
date is removed (its result, odds and snapshots go with it), and those files are marked as
partly loaded, so a later plain ``firstpitch ingest`` loads them whole again.
"""

from __future__ import annotations

from datetime import date

from storage.postgres import Conn


async def keep_before(conn: Conn, before: date) -> int:
    """Remove every game played on or after ``before``; returns how many were removed."""
    async with conn.transaction():
        removed = await conn.fetchval(
            "WITH gone AS (DELETE FROM games WHERE game_date >= $1 RETURNING 1) "
            "SELECT count(*) FROM gone",
            before,
        )
        await conn.execute("DELETE FROM odds_unmatched WHERE odds_date >= $1", before)
        await conn.execute(
            "UPDATE ingested_files SET sha256 = 'partial:before ' || $1::text WHERE season >= $2",
            before.isoformat(),
            before.year,
        )
    return int(removed)
