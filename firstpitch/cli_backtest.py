"""``firstpitch backtest --season YYYY [--model-version V]``: score every game of a season as
of its cutoff through the serving path, store the run apart from live traffic, and write its
report (HTML, PNG plots, JSON) into a directory and into MLflow."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{flag} is a date, YYYY-MM-DD")
    raise AssertionError("unreachable")


def backtest(
    season: Annotated[int, typer.Option(help="The season to score, e.g. 2021.")],
    model: Annotated[
        str, typer.Option(help="The registered model whose version is tested.")
    ] = "firstpitch-home-win",
    model_version: Annotated[
        str | None, typer.Option(help="Its registry version (default: the champion).")
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First game date (default: season start).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last game date (default: season end).")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(help="Where the report goes (default: <state>/backtests/<run id>)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score a season as the service would have at each cutoff; store it as a backtest run
    (performance and leaderboard take ``run=<id>``) and write its report."""
    from firstpitch.backtest.run import BacktestError, Request, run_backtest
    from firstpitch.runtime import configure_environment, resolve_postgres
    from firstpitch.settings import Settings

    request = Request(
        season=season,
        model_name=model,
        model_version=model_version,
        date_from=_day(date_from, "--from"),
        date_to=_day(date_to, "--to"),
        report_dir=report_dir,
    )
    settings = Settings()
    configure_environment(settings)
    try:
        summary = asyncio.run(run_backtest(settings, resolve_postgres(settings), request))
    except BacktestError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(summary))
        return
    perf = summary["performance"][summary["prediction_type"]] or {}
    console.print(
        f"backtest {summary['run_id']}: {summary['games']} games of {summary['season']} "
        f"({summary['date_from']} to {summary['date_to']}) in {summary['elapsed_s']:.1f} s; "
        f"{summary['prediction_type']} log loss {perf.get('log_loss')}, "
        f"{perf.get('bets')} bets, ROI {perf.get('roi')}, CLV {perf.get('closing_line_value')}"
    )
    console.print(f"report: {summary['report_dir']}/report.html")
    print(summary["run_id"])
