"""``firstpitch features show | materialize | build``: one game's vector, the feature store
filled for a day or a season, the offline frame."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from firstpitch.cli_common import console, fail, load_settings, progress, run_async, with_db

features_app = typer.Typer(help="Point-in-time feature vectors.", no_args_is_help=True)


@features_app.command("show")
def features_show(
    game_id: Annotated[str, typer.Argument(help="Retrosheet game id, e.g. CHN202104010.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute one game's vector from the database (the serving code path) and print it."""
    from features.online import UnknownGames, compute_vectors
    from firstpitch.runtime import resolve_endpoints

    settings = load_settings()
    dsn = resolve_endpoints(settings).postgres_dsn

    def work(conn: Any) -> Any:
        return compute_vectors(
            conn, [game_id], cutoff_minutes=settings.cutoff_minutes, now=settings.now
        )

    try:
        vector = with_db(dsn, work)[game_id]
    except UnknownGames:
        fail(f"unknown game {game_id!r}: ids look like CHN202104010 (home team, date, number)")
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
        fail("give exactly one of --date YYYY-MM-DD or --season YYYY")
    day = None
    if on_date is not None:
        try:
            day = date.fromisoformat(on_date)
        except ValueError:
            fail(f"--date {on_date!r} is not YYYY-MM-DD")
    settings = load_settings()
    endpoints = resolve_endpoints(settings)
    with progress() as bar:
        task = bar.add_task("materialize", total=None)
        count, elapsed = run_async(
            lambda: materialize(settings, endpoints, on_date=day, season=season)
        )
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

    settings = load_settings()
    dsn = resolve_endpoints(settings).postgres_dsn

    started = time.perf_counter()
    frame, _ = with_db(
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
