"""Load one Retrosheet game log into PostgreSQL: its games and results by COPY, and the
starters and lineups it announces, in one transaction."""

from __future__ import annotations

from pathlib import Path

from ingest.files import record_loaded, sha256_of, unchanged
from ingest.known_times import announce_history
from ingest.retrosheet import GAME_COLUMNS, RESULT_COLUMNS, parse_game_log
from storage.postgres import Conn


async def load_game_log(conn: Conn, path: Path, seasons: set[int]) -> bool:
    """Load one game log; returns False when the same bytes were loaded before."""
    sha = sha256_of(path)
    if await unchanged(conn, path.name, seasons, sha):
        return False
    parsed = parse_game_log(path, seasons)
    present = {int(str(p.game["season"])) for p in parsed}
    async with conn.transaction():
        # Reloading games cascades to their odds, so those workbooks must be joined again.
        await conn.execute(
            "DELETE FROM ingested_files WHERE file_name LIKE 'mlb-odds-%' AND season = ANY($1)",
            list(present),
        )
        await conn.execute(
            "DELETE FROM games WHERE source_file = $1 AND season = ANY($2)",
            path.name,
            list(seasons),
        )
        await conn.copy_records_to_table(
            "games",
            columns=GAME_COLUMNS,
            records=[tuple(p.game[c] for c in GAME_COLUMNS) for p in parsed],
        )
        await conn.copy_records_to_table(
            "game_results",
            columns=RESULT_COLUMNS,
            records=[tuple(p.result[c] for c in RESULT_COLUMNS) for p in parsed],
        )
        await announce_history(conn, path.name)  # starters and lineups, at the rule's times
        counts = {s: sum(1 for p in parsed if p.game["season"] == s) for s in seasons}
        await record_loaded(conn, path.name, counts, sha)
    return True
