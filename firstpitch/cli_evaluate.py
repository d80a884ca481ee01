"""``firstpitch evaluate``: the rolling-origin evaluation against the market, logged to MLflow
and printed as a table (or JSON)."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


async def run_evaluation(
    dsn: str, cutoff_minutes: int, targets: list[str], seasons: list[int], bettor: Any
) -> dict[str, Any]:
    import polars as pl

    from features.online import compute_frame
    from storage import postgres
    from training.dataset import OUTCOME_SQL, label
    from training.evaluate import rolling_origin

    conn = await postgres.connect(dsn)
    try:
        features, games = await compute_frame(conn, cutoff_minutes=cutoff_minutes)
        rows = await conn.fetch(OUTCOME_SQL)
    finally:
        await conn.close()
    outcomes = pl.DataFrame([dict(r) for r in rows], infer_schema_length=None)
    reports = {}
    for target in targets:
        frame = label(features, games, outcomes, target)
        reports[target] = await asyncio.to_thread(rolling_origin, frame, target, seasons, bettor)
    return reports


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['target']}: rolling origin ({report['elapsed_s']} s)")
    for col in ("season", "train", "games", "model", "opening", "closing", "model ece",
                "bets", "roi", "clv"):  # fmt: skip
        table.add_column(col, justify="right")

    def pct(v: float | None) -> str:
        return "" if v is None else f"{100 * v:+.2f}%"

    for s in report["seasons"]:
        table.add_row(
            str(s["season"]),
            s["train_range"],
            str(s["games"]),
            f"{s['model']['log_loss']:.4f}",
            f"{s['opening_market']['log_loss']:.4f}",
            f"{s['closing_market']['log_loss']:.4f}",
            f"{s['model']['ece']:.4f}",
            str(s["betting"]["bets"]),
            pct(s["betting"]["roi"]),
            pct(s["betting"]["clv"]),
        )
    sm = report["summary"]
    table.add_row(
        "mean ± sd (bets: all)",
        "",
        "",
        f"{sm['model']['log_loss']['mean']:.4f} ± {sm['model']['log_loss']['sd']:.4f}",
        f"{sm['opening_market']['log_loss']['mean']:.4f}",
        f"{sm['closing_market']['log_loss']['mean']:.4f}",
        f"{sm['model']['ece']['mean']:.4f}",
        str(sm["bets"]),
        pct(sm["bet_roi"]),
        pct(sm["bet_clv"]),
    )
    return table


def evaluate(
    seasons: Annotated[str, typer.Option(help="Test seasons, YYYY-YYYY.")] = "2016-2021",
    target: Annotated[
        str | None, typer.Option(help="home_win or total_over (default: both).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rolling origin: for each test season train on the seasons before the one before it,
    tune and early-stop on the one before, test on it; against the opening and closing
    lines, with the recommended bets' ROI and closing-line value. Logged to MLflow."""
    from firstpitch.cli_common import fail, load_settings, parse_seasons
    from firstpitch.runtime import resolve_endpoints
    from firstpitch.serving.betting import BettingPolicy, recommend
    from storage.registry import log_evaluation
    from training.dataset import TARGETS
    from training.evaluate import flat_metrics

    if target is not None and target not in TARGETS:
        fail(f"--target must be one of {', '.join(TARGETS)}")
    wanted = sorted(parse_seasons(seasons))
    settings = load_settings()
    endpoints = resolve_endpoints(settings)
    bettor = partial(recommend, policy=BettingPolicy.from_settings(settings))

    def bet(market: str, sides: Any, p: float, prices: Any, line: Any) -> dict[str, Any]:
        return bettor(market, sides, p, prices, line=line)

    try:
        reports = asyncio.run(
            run_evaluation(
                endpoints.postgres_dsn,
                settings.cutoff_minutes,
                [target] if target else list(TARGETS),
                wanted,
                bet,
            )
        )
    except ValueError as exc:
        fail(str(exc))
    from features.definitions import FEATURE_VERSION

    for name, report in reports.items():
        report["mlflow_run_id"] = log_evaluation(
            tracking_uri=settings.mlflow_uri,
            artifacts=settings.mlflow_artifacts,
            run_name=f"evaluate-{name}",
            metrics=flat_metrics(report),
            tags={
                "kind": "rolling_origin",
                "target": name,
                "feature_version": FEATURE_VERSION,
                "test_seasons": f"{wanted[0]}-{wanted[-1]}",
            },
            report=report,
        )
    if as_json:
        print(json.dumps(reports))
        return
    for report in reports.values():
        Console().print(_table(report))
