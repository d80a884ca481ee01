"""Load raw files into PostgreSQL: one transaction per file, COPY, idempotent by content hash.

``ingest`` migrates, then loads the game logs (``ingest/game_logs.py``) and the odds
workbooks (``ingest/workbooks.py``) of the chosen seasons, skipping files whose bytes were
loaded before (``ingest/files.py``), and reports per season (``ingest/summary.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ingest.files import locate_files
from ingest.game_logs import load_game_log
from ingest.summary import IngestSummary, summarize
from ingest.workbooks import load_workbook
from storage.postgres import Conn, migrate

Progress = Callable[[str, int], None]


async def ingest(
    conn: Conn, data_dir: Path, seasons: set[int], progress: Progress | None = None
) -> IngestSummary:
    """Migrate, then load game logs and workbooks of ``seasons``; report per season."""
    started = time.perf_counter()
    await migrate(conn)
    logs, books = locate_files(data_dir, seasons)
    summary = IngestSummary()
    for path in logs:
        loaded = await load_game_log(conn, path, seasons)
        (summary.files_loaded if loaded else summary.files_unchanged).append(path.name)
        if progress:
            progress(path.name, 1)
    for path in books:
        loaded, warnings = await load_workbook(conn, path)
        (summary.files_loaded if loaded else summary.files_unchanged).append(path.name)
        summary.warnings += warnings
        if progress:
            progress(path.name, 1)
    await summarize(conn, seasons, summary)
    summary.elapsed_s = time.perf_counter() - started
    return summary
