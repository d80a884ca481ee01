"""``firstpitch replay``: a stretch of a real season played through a running service's
public API (its clock driven, its feed fed), in the order things became known."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

console = Console(stderr=True)


def replay(
    first: Annotated[str, typer.Option("--from", help="First game day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last game day (YYYY-MM-DD), inclusive.")],
    speed: Annotated[
        float,
        typer.Option(help="0: as fast as the service answers; N: N times the season's pace."),
    ] = 0.0,
    max_wait: Annotated[
        float, typer.Option(help="At a speed, the longest sleep between two moments (s).")
    ] = 2.0,
    url: Annotated[str, typer.Option(help="Base URL of the running service.")] = (
        "http://127.0.0.1:3000"
    ),
    api_key: Annotated[
        str | None,
        typer.Option(envvar="FIRSTPITCH_API_KEY", help="A key with the feed scope."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Raw data folder (retrosheet/, odds/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay the season from --from to --to through the service's feed and clock (the
    service must run with FIRSTPITCH_CLOCK_DRIVABLE=true)."""
    from firstpitch.settings import Settings
    from ingest.errors import DataDirError, IngestError
    from replay.driver import ReplayError, play
    from replay.timeline import build

    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        console.print("[red]error:[/red] --from and --to are dates, YYYY-MM-DD")
        raise typer.Exit(2) from None
    if end < start:
        console.print("[red]error:[/red] --to is before --from")
        raise typer.Exit(2)
    try:
        events = build(data_dir or Settings().data_dir, start, end)
    except (DataDirError, IngestError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"replaying {len(events)} events of {start}..{end} through {url}")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def go() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            return (await play(client, events, speed=speed, max_wait_s=max_wait)).to_dict()

    try:
        report = asyncio.run(go())
    except (ReplayError, httpx.HTTPError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(report))
    else:
        console.print(report)
