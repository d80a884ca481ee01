"""``firstpitch feed KIND FILE|-``: live facts from JSON lines or CSV, through the same
validation and write path as ``POST /api/v1/feed/{kind}`` (one batch: all or nothing)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)


def read_records(text: str, fmt: str) -> list[Any]:
    """JSON lines (one object a line) or CSV with a header (empty cells are absent; a
    lineup's players are separated by spaces)."""
    if fmt == "jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise ValueError(f"line {n}: not JSON") from None
        return out
    rows = list(csv.DictReader(io.StringIO(text)))
    records = []
    for row in rows:
        record: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        if "players" in record:
            record["players"] = record["players"].split()
        records.append(record)
    return records


def feed(
    kind: Annotated[str, typer.Argument(help="schedule, starters, lineups, odds, results, status")],
    source: Annotated[str, typer.Argument(help="A file of records, or - for standard input.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="jsonl or csv (default: from the file name; - is jsonl)."),
    ] = None,
) -> None:
    """Write live facts (idempotent: sending the same records again changes nothing)."""
    from firstpitch.clock import Clock
    from firstpitch.runtime import resolve_postgres
    from firstpitch.settings import Settings
    from ingest import feed_store
    from ingest.feed_records import FeedError, validate
    from storage.postgres import connect, migrate

    fmt = fmt or ("csv" if source.endswith(".csv") else "jsonl")
    if fmt not in ("jsonl", "csv"):
        console.print("[red]error:[/red] --format is jsonl or csv")
        raise typer.Exit(2)
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        raw = read_records(text, fmt)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {source}: {exc}")
        raise typer.Exit(2) from None
    settings = Settings()
    now = Clock(settings.now, settings.tz).now()
    dsn = resolve_postgres(settings)

    async def go() -> dict[str, Any]:
        records = validate(kind, raw, now, timedelta(seconds=settings.feed_max_skew_s))
        conn = await connect(dsn)
        try:
            await migrate(conn)
            return (await feed_store.write(conn, kind, records)).to_dict()
        finally:
            await conn.close()

    try:
        outcome = asyncio.run(go())
    except FeedError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        for d in exc.details:
            console.print(f"  record {d['index']}: {d['field'] or '(record)'}: {d['reason']}")
        raise typer.Exit(2) from None
    print(json.dumps(outcome))
