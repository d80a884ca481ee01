"""The ``firstpitch`` command line: services, ingest, features, train, serve, keys."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from firstpitch.cli_audit import audit as audit_command
from firstpitch.cli_backtest import backtest as backtest_command
from firstpitch.cli_evaluate import evaluate as evaluate_command
from firstpitch.cli_feed import feed as feed_command
from firstpitch.cli_keys import keys_app
from firstpitch.cli_promote import promote as promote_command
from firstpitch.cli_replay import replay as replay_command
from firstpitch.settings import Settings

app = typer.Typer(
    help="firstpitch: real-time MLB game predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(help="Embedded PostgreSQL and Redis servers.", no_args_is_help=True)
features_app = typer.Typer(help="Point-in-time feature vectors.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(features_app, name="features")
app.add_typer(keys_app, name="keys")
app.command("feed")(feed_command)
app.command("replay")(replay_command)
app.command("evaluate")(evaluate_command)
app.command("audit")(audit_command)
app.command("promote")(promote_command)
app.command("backtest")(backtest_command)
console = Console(stderr=True)
T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    from firstpitch.runtime import configure_environment

    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_environment(settings)
    return settings


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def parse_seasons(text: str) -> set[int]:
    match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not match:
        raise typer.BadParameter("use YYYY or YYYY-YYYY, e.g. 2010-2021")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if last < first:
        raise typer.BadParameter("the range must go forward, e.g. 2010-2021")
    return set(range(first, last + 1))


def _run(coro_factory: Callable[[], Any]) -> Any:
    return asyncio.run(coro_factory())


def _with_db(dsn: str, work: Callable[[Any], Any]) -> Any:
    """Run ``await work(conn)`` on a fresh connection, closed afterwards."""
    from storage.postgres import connect

    async def go() -> Any:
        conn = await connect(dsn)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


# ----------------------------------------------------------------------------- services
@services_app.command("up")
def services_up() -> None:
    """Start the embedded servers (those with no configured address) and print addresses."""
    from firstpitch.runtime import resolve_endpoints

    endpoints = resolve_endpoints(_settings())
    print(json.dumps({"postgres": endpoints.postgres_dsn, "redis": endpoints.redis_url}))


@services_app.command("down")
def services_down() -> None:
    """Stop the embedded servers cleanly (PostgreSQL fast shutdown, Valkey saves first)."""
    from storage.embedded import embedded_servers

    for server in embedded_servers(_settings().state_dir):
        server.stop()
        console.print(f"{server.name}: stopped")


@services_app.command("status")
def services_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether each embedded server runs, and where."""
    from storage.embedded import embedded_servers

    rows = [s.status() for s in embedded_servers(_settings().state_dir)]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "running": r.running,
                        "address": r.address,
                        "pid": r.pid,
                        "directory": str(r.directory),
                    }
                    for r in rows
                ]
            )
        )
        return
    for r in rows:
        print(f"{r.name:9} {'running' if r.running else 'stopped':8} {r.address or ''}")


@app.command()
def up() -> None:
    """Services up, ingest if the database is empty, train and promote if there is no
    champion, materialize today's feature vectors."""
    from firstpitch.bootstrap import bring_up
    from firstpitch.runtime import resolve_endpoints

    settings = _settings()
    endpoints = resolve_endpoints(settings)
    done = _run(lambda: bring_up(settings, endpoints, console.print))
    print(json.dumps(done))


# ----------------------------------------------------------------------------- ingest
@app.command()
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
    from ingest.history_cut import keep_before
    from ingest.loader import ingest as run_ingest
    from ingest.loader import locate_files
    from storage.postgres import connect

    settings = _settings(data_dir=data_dir)
    wanted = parse_seasons(seasons)
    try:
        cut = date_type.fromisoformat(before) if before else None
    except ValueError:
        _fail(f"--before: not a date (YYYY-MM-DD): {before!r}")
    try:
        logs, books = locate_files(settings.data_dir, wanted)
    except (DataDirError, IngestError) as exc:
        _fail(str(exc))
    dsn = resolve_endpoints(settings).postgres_dsn

    async def go() -> Any:
        conn = await connect(dsn)
        try:
            with _progress() as bar:
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
        summary = _run(go)
    except (DataDirError, IngestError) as exc:
        _fail(str(exc))
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# ----------------------------------------------------------------------------- features
@features_app.command("show")
def features_show(
    game_id: Annotated[str, typer.Argument(help="Retrosheet game id, e.g. CHN202104010.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute one game's vector from the database (the serving code path) and print it."""
    from features.online import UnknownGames, compute_vectors
    from firstpitch.runtime import resolve_endpoints

    settings = _settings()
    dsn = resolve_endpoints(settings).postgres_dsn

    def work(conn: Any) -> Any:
        return compute_vectors(
            conn, [game_id], cutoff_minutes=settings.cutoff_minutes, now=settings.now
        )

    try:
        vector = _with_db(dsn, work)[game_id]
    except UnknownGames:
        _fail(f"unknown game {game_id!r}: ids look like CHN202104010 (home team, date, number)")
    if as_json:
        print(json.dumps(vector.to_json()))
        return
    print(
        f"{vector.game_id}  {vector.meta.away_team} @ {vector.meta.home_team}  "
        f"feature version {vector.feature_version}"
    )
    print(f"cutoff {vector.cutoff.isoformat()}  as of {vector.as_of.isoformat()}")
    for name, value in vector.features().items():
        print(f"  {name:24} {'' if value is None else f'{value:.6g}'}")


@features_app.command("materialize")
def features_materialize(
    on_date: Annotated[str | None, typer.Option("--date", help="Games of YYYY-MM-DD.")] = None,
    season: Annotated[int | None, typer.Option(help="Every game of a season.")] = None,
) -> None:
    """Compute vectors and write them to the Redis feature store (pipelined)."""
    from features.materialize import materialize
    from firstpitch.runtime import resolve_endpoints

    if (on_date is None) == (season is None):
        _fail("give exactly one of --date YYYY-MM-DD or --season YYYY")
    day = None
    if on_date is not None:
        try:
            day = date.fromisoformat(on_date)
        except ValueError:
            _fail(f"--date {on_date!r} is not YYYY-MM-DD")
    settings = _settings()
    endpoints = resolve_endpoints(settings)
    with _progress() as bar:
        task = bar.add_task("materialize", total=None)
        count, elapsed = _run(lambda: materialize(settings, endpoints, on_date=day, season=season))
        bar.update(task, completed=count, total=count)
    console.print(f"wrote {count} vectors in {elapsed:.2f} s")
    print(json.dumps({"vectors": count, "elapsed_s": round(elapsed, 3)}))


@features_app.command("build")
def features_build(
    out: Annotated[Path | None, typer.Option(help="Write the frame to this Parquet file.")] = None,
) -> None:
    """Build the full offline frame (every game as of its cutoff) and report the time."""
    import time

    from features.online import compute_frame
    from firstpitch.runtime import resolve_endpoints

    settings = _settings()
    dsn = resolve_endpoints(settings).postgres_dsn

    started = time.perf_counter()
    frame, _ = _with_db(
        dsn, lambda conn: compute_frame(conn, cutoff_minutes=settings.cutoff_minutes)
    )
    elapsed = time.perf_counter() - started
    if out:
        frame.write_parquet(out)
    print(
        json.dumps(
            {"rows": frame.height, "features": frame.width - 3, "elapsed_s": round(elapsed, 3)}
        )
    )


# ----------------------------------------------------------------------------- train
@app.command()
def train(
    target: Annotated[str, typer.Option(help="home_win or total_over.")] = "home_win",
    promote: Annotated[bool, typer.Option("--promote", help="Make it the champion.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train a LightGBM classifier (train <=2019, validate 2020, test 2021), log it to
    MLflow, register it, and with --promote alias it champion and import it into BentoML."""
    from firstpitch.runtime import resolve_endpoints
    from training.dataset import TARGETS
    from training.run import run_training
    from training.train import GRID

    if target not in TARGETS:
        _fail(f"--target must be one of {', '.join(TARGETS)}")
    settings = _settings()
    endpoints = resolve_endpoints(settings)
    configs = 1
    for values in GRID.values():
        configs *= len(values)
    with _progress() as bar:
        task = bar.add_task(f"train {target}", total=configs)
        report = _run(
            lambda: run_training(
                settings,
                endpoints,
                target,
                promote=promote,
                progress=lambda n: bar.update(task, advance=n),
            )
        )
    if as_json:
        print(json.dumps(report))
        return
    table = Table(
        title=f"{target}: model version {report['model_version']} "
        f"({report['elapsed_s']} s, promoted={report['promoted']})"
    )
    for col in ("season", "who", "n", "log loss", "brier", "auc", "accuracy", "ece"):
        table.add_column(col, justify="right")
    for season, parts in report["test"].items():
        for who, m in parts.items():
            table.add_row(
                season,
                who,
                str(m["n"]),
                f"{m['log_loss']:.4f}",
                f"{m['brier']:.4f}",
                f"{m['auc']:.4f}",
                f"{m['accuracy']:.4f}",
                f"{m['ece']:.4f}",
            )
    Console().print(table)


# ----------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    replay: Annotated[
        str | None,
        typer.Option(help="Serve a replay of the season from this day (YYYY-MM-DD) instead."),
    ] = None,
    replay_days: Annotated[int, typer.Option(help="Days the replay plays.", min=1)] = 7,
    replay_speed: Annotated[
        float, typer.Option(help="The replay's pace (times the season's; 0: flat out).", min=0)
    ] = 3600.0,
) -> None:
    """Bring everything up (like `up`) and serve the API with BentoML until SIGINT/SIGTERM."""
    from firstpitch.serve import serve as run_serve
    from firstpitch.serve_replay import ReplayPlan

    settings = _settings()
    plan = None
    if replay is not None:
        try:
            plan = ReplayPlan(date.fromisoformat(replay), replay_days, replay_speed)
        except ValueError:
            _fail(f"--replay: not a date (YYYY-MM-DD): {replay!r}")

    def say(message: str) -> None:
        console.print(message, soft_wrap=True, highlight=False)

    code = run_serve(settings, host or settings.host, port or settings.port, say, plan)
    raise typer.Exit(code)


@app.command()
def warm(
    url: Annotated[
        str, typer.Option(help="Base URL of the running service.")
    ] = "http://127.0.0.1:3000",
    on_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default today).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="FIRSTPITCH_API_KEY",
            help="A key with the predictions scope (needed whenever the service has keys on).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Predict a day's games ahead through the running service, so later calls hit the cache."""
    import httpx

    from firstpitch.clock import Clock
    from firstpitch.runtime import resolve_postgres
    from storage.prediction_queries import games_on

    settings = _settings()
    try:
        day = date.fromisoformat(on_date) if on_date else Clock(settings.now, settings.tz).today()
    except ValueError:
        _fail(f"--date {on_date!r} is not YYYY-MM-DD")
    dsn = resolve_postgres(settings)

    games = _with_db(dsn, lambda conn: games_on(conn, day))
    warmed = 0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        for i in range(0, len(games), 50):
            resp = client.post("/api/v1/predict/batch", json={"game_ids": games[i : i + 50]})
            if resp.status_code == 401:
                _fail(f"{url} needs an API key: pass --api-key or set FIRSTPITCH_API_KEY")
            if resp.status_code != 200:
                _fail(f"{url} answered {resp.status_code}: {resp.text[:300]}")
            warmed += len(resp.json())
    print(json.dumps({"date": day.isoformat(), "warmed": warmed}))
