"""``firstpitch feed KIND FILE|-``: live facts from JSON lines or CSV, through the same
validation and write path as ``POST /api/v1/feed/{kind}``.

Written to the database directly (one batch: all or nothing), the facts are what features,
performance and the next predictions see, but only the service publishes events: with
``--url`` the records go through a running service's feed API instead (validated first, as a
whole, against the service's clock, then posted in batches of API_BATCH), so they are
re-priced and streamed exactly as a POST's are."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="FIRSTPITCH_URL",
            help="A running service: post through its feed API (re-priced, events streamed) "
            "instead of writing to the database.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", envvar="FIRSTPITCH_API_KEY", help="A feed-scope API key (--url)."),
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
    skew = timedelta(seconds=settings.feed_max_skew_s)
    if url is not None:
        _through_service(url, key, kind, raw, skew)
        return
    now = Clock(settings.now, settings.tz).now()
    dsn = resolve_postgres(settings)

    async def go() -> dict[str, Any]:
        records = validate(kind, raw, now, skew)
        conn = await connect(dsn)
        try:
            await migrate(conn)
            return (await feed_store.write(conn, kind, records)).to_dict()
        finally:
            await conn.close()

    try:
        outcome = asyncio.run(go())
    except FeedError as exc:
        _refused(exc)
    print(json.dumps(outcome))


def _refused(exc: Any) -> NoReturn:
    console.print(f"[red]error:[/red] {exc.message}")
    for d in exc.details:
        console.print(f"  record {d['index']}: {d['field'] or '(record)'}: {d['reason']}")
    raise typer.Exit(2) from None


def _through_service(url: str, key: str | None, kind: str, raw: list[Any], skew: timedelta) -> None:
    """Validate every record against the service's clock, then post them in batches; prints
    the summed counts and every event published. A refused batch stops the run (the batches
    before it stand: the answer says how many)."""
    import httpx

    from ingest.feed_records import API_BATCH, FeedError, validate
    from replay.driver import ReplayError, post

    headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def go() -> dict[str, Any]:
        total: dict[str, Any] = {"kind": kind, "received": 0, "inserted": 0, "updated": 0,
                                 "unchanged": 0, "corrected_games": [], "batches": 0,
                                 "repricing": [], "events": []}  # fmt: skip
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            clock = await client.get("/api/v1/clock")
            if clock.status_code != 200:
                raise ReplayError(f"clock: HTTP {clock.status_code}: {clock.text[:500]}")
            validate(kind, raw, datetime.fromisoformat(clock.json()["now"]), skew)
            for i in range(0, len(raw), API_BATCH):
                try:
                    answer = await post(client, f"/api/v1/feed/{kind}",
                                        {"records": raw[i : i + API_BATCH]}, f"records {i}-")  # fmt: skip
                except ReplayError as exc:
                    raise ReplayError(f"{exc} (after {total['batches']} batches written)") from None
                for name in ("received", "inserted", "updated", "unchanged"):
                    total[name] += answer[name]
                total["corrected_games"] += answer["corrected_games"]
                total["repricing"].append(answer["repricing"])
                total["events"] += answer["events"]
                total["batches"] += 1
        return total

    try:
        print(json.dumps(asyncio.run(go())))
    except FeedError as exc:
        _refused(exc)
    except (ReplayError, httpx.HTTPError) as exc:
        console.print(f"[red]error:[/red] {url}: {exc}")
        raise typer.Exit(1) from None
