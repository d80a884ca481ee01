"""``firstpitch ingest``: Retrosheet game logs and odds workbooks into PostgreSQL, with a
summary table (or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from firstpitch.cli_common import fail, load_settings, parse_seasons, progress, run_async


def ingest(
    data_dir: Annotated[
        Path | None, typer.Option(help="Raw data folder (retrosheet/, odds/).")
    ] = None,
    seasons: Annotated[str, typer.Option(help="Seasons to load, YYYY or YYYY-YYYY.")] = "2005-2024",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    before: Annotated[
        str | None,
        typer.Option(help="Keep only games before this date (YYYY-MM-DD): a replay's start."),
    ] = None,
) -> None:
    """Load Retrosheet game logs and odds workbooks into PostgreSQL (idempotent)."""
    from datetime import date as date_type

    from firstpitch.runtime import resolve_endpoints
    from ingest.errors import DataDirError, IngestError
    from ingest.files import locate_files
    from ingest.history_cut import keep_before
    from ingest.loader import ingest as run_ingest
    from storage.postgres import connect

    settings = load_settings(data_dir=data_dir)
    wanted = parse_seasons(seasons)
    try:
        cut = date_type.fromisoformat(before) if before else None
    except ValueError:
        fail(f"--before: not a date (YYYY-MM-DD): {before!r}")
    try:
        logs, books = locate_files(settings.data_dir, wanted)
    except (DataDirError, IngestError) as exc:
        fail(str(exc))
    dsn = resolve_endpoints(settings).postgres_dsn

    async def go() -> Any:
        conn = await connect(dsn)
        try:
            with progress() as bar:
                task = bar.add_task("ingest", total=len(logs) + len(books))
                summary = await run_ingest(
                    conn,
                    settings.data_dir,
                    wanted,
                    lambda name, n: bar.update(task, advance=n, description=name),
                )
            if cut is not None:
                summary.games_removed = await keep_before(conn, cut)
            return summary
        finally:
            await conn.close()

    try:
        summary = run_async(go)
    except (DataDirError, IngestError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(summary.to_dict()))
        return
    table = Table(title=f"ingest ({summary.elapsed_s:.1f} s)")
    for col in ("season", "games", "odds games", "matched", "unmatched"):
        table.add_column(col, justify="right")
    for season, s in summary.seasons.items():
        table.add_row(
            season, str(s.games), str(s.odds_games), str(s.odds_matched), str(s.odds_unmatched)
        )
    Console().print(table)
    for u in summary.unmatched:
        print(
            f"unmatched: {u['source_file']} row {u['source_row']} {u['odds_date']} "
            f"{u['away_code']}@{u['home_code']}: {u['reason']}"
        )
    for w in summary.warnings:
        print(f"warning: {w}")
    print(
        f"loaded {len(summary.files_loaded)} files, {len(summary.files_unchanged)} unchanged; "
        f"odds match rate {summary.match_rate}"
    )
