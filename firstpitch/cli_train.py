"""``firstpitch train``: one target's LightGBM model trained, logged to MLflow and registered
(with ``--promote``: the champion), with its test metrics as a table (or JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from firstpitch.cli_common import fail, load_settings, progress, run_async


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
        fail(f"--target must be one of {', '.join(TARGETS)}")
    settings = load_settings()
    endpoints = resolve_endpoints(settings)
    configs = 1
    for values in GRID.values():
        configs *= len(values)
    with progress() as bar:
        task = bar.add_task(f"train {target}", total=configs)
        report = run_async(
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
