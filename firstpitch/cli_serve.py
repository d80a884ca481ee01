"""``firstpitch serve`` (everything up, then the API until SIGINT/SIGTERM, or a season
replay) and ``firstpitch warm`` (a day's games predicted ahead through the running service)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from firstpitch.cli_common import console, fail, load_settings, with_db


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

    settings = load_settings()
    plan = None
    if replay is not None:
        try:
            plan = ReplayPlan(date.fromisoformat(replay), replay_days, replay_speed)
        except ValueError:
            fail(f"--replay: not a date (YYYY-MM-DD): {replay!r}")

    def say(message: str) -> None:
        console.print(message, soft_wrap=True, highlight=False)

    code = run_serve(settings, host or settings.host, port or settings.port, say, plan)
    raise typer.Exit(code)


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

    settings = load_settings()
    try:
        day = date.fromisoformat(on_date) if on_date else Clock(settings.now, settings.tz).today()
    except ValueError:
        fail(f"--date {on_date!r} is not YYYY-MM-DD")
    dsn = resolve_postgres(settings)

    games = with_db(dsn, lambda conn: games_on(conn, day))
    warmed = 0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        for i in range(0, len(games), 50):
            resp = client.post("/api/v1/predict/batch", json={"game_ids": games[i : i + 50]})
            if resp.status_code == 401:
                fail(f"{url} needs an API key: pass --api-key or set FIRSTPITCH_API_KEY")
            if resp.status_code != 200:
                fail(f"{url} answered {resp.status_code}: {resp.text[:300]}")
            warmed += len(resp.json())
    print(json.dumps({"date": day.isoformat(), "warmed": warmed}))
