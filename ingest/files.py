"""The raw files of a data directory: where the game logs and odds workbooks are, and whether
the same bytes were loaded before (the ``ingested_files`` table, by content hash), which makes
loading a file again a no-op."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingest.errors import DataDirError
from ingest.odds import season_of
from storage.postgres import Conn

POSTSEASON_FILES = ("glwc.txt", "gldv.txt", "gllc.txt", "glws.txt")


def locate_files(data_dir: Path, seasons: set[int]) -> tuple[list[Path], list[Path]]:
    """The game logs (regular seasons, then the postseason) and the workbooks of ``seasons``."""
    retro, odds = data_dir / "retrosheet", data_dir / "odds"
    if not retro.is_dir():
        raise DataDirError(
            f"{data_dir} is not a firstpitch data directory: it has no retrosheet/ folder "
            "(set FIRSTPITCH_DATA_DIR or pass --data-dir)"
        )
    logs = [retro / f"gl{y}.txt" for y in sorted(seasons) if (retro / f"gl{y}.txt").exists()]
    if not logs:
        raise DataDirError(f"{retro} holds no game log for seasons {min(seasons)}-{max(seasons)}")
    logs += [retro / name for name in POSTSEASON_FILES if (retro / name).exists()]
    books = [p for p in sorted(odds.glob("mlb-odds-*.xlsx")) if season_of(p) in seasons]
    return logs, books


def sha256_of(path: Path) -> str:
    """The file's content hash, as ``ingested_files`` records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def unchanged(conn: Conn, name: str, seasons: set[int], sha: str) -> bool:
    """Whether ``name`` was loaded for every one of ``seasons`` with these very bytes."""
    rows = await conn.fetch(
        "SELECT season, sha256 FROM ingested_files WHERE file_name = $1 AND season = ANY($2)",
        name,
        list(seasons),
    )
    return {r["season"] for r in rows} >= seasons and all(r["sha256"] == sha for r in rows)


async def record_loaded(conn: Conn, name: str, counts: dict[int, int], sha: str) -> None:
    """Record ``name`` as loaded: its hash and row count per season."""
    await conn.executemany(
        """INSERT INTO ingested_files (file_name, season, sha256, row_count) VALUES ($1,$2,$3,$4)
           ON CONFLICT (file_name, season) DO UPDATE
           SET sha256 = excluded.sha256, row_count = excluded.row_count, loaded_at = now()""",
        [(name, season, sha, n) for season, n in counts.items()],
    )
