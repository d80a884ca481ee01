"""The command line, run as a user runs it: a real process against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from firstpitch.settings import Settings

CLI = [sys.executable, "-m", "firstpitch"]


def run(settings: Settings, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "FIRSTPITCH_POSTGRES_DSN": dsn or settings.postgres_dsn.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
        "FIRSTPITCH_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_help_lists_every_command(settings: Settings) -> None:
    out = run(settings, "--help").stdout
    for command in ("services", "ingest", "features", "train", "up"):
        assert command in out


def test_ingest_json_summary(settings: Settings, ingested: str) -> None:
    done = run(settings, "ingest", "--seasons", "2010-2021", "--json", dsn=ingested)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["seasons"]["2021"] == {
        "games": 2466,
        "odds_games": 2462,
        "odds_matched": 2462,
        "odds_unmatched": 0,
    }
    assert set(summary["seasons"]) == {str(y) for y in range(2010, 2022)}
    assert summary["elapsed_s"] > 0 and summary["odds_match_rate"] >= 0.999


def test_bad_seasons_and_data_dir_are_clear_errors(settings: Settings, tmp_path: Path) -> None:
    bad = run(settings, "ingest", "--seasons", "21-2")
    assert bad.returncode == 2 and "YYYY-YYYY" in bad.stderr and "Traceback" not in bad.stderr
    wrong = run(settings, "ingest", "--data-dir", str(tmp_path))
    assert wrong.returncode == 2 and "no retrosheet/ folder" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_features_show_json(settings: Settings, ingested: str) -> None:
    done = run(settings, "features", "show", "CHN202104010", "--json", dsn=ingested)
    assert done.returncode == 0, done.stderr
    vector = json.loads(done.stdout)
    assert vector["game_id"] == "CHN202104010"
    assert vector["cutoff"] == "2021-04-01T17:05:00+00:00"
    assert vector["as_of"] <= vector["cutoff"]
    assert len(vector["features"]) >= 48 and vector["features"]["mkt_has_line"] == 1.0
    unknown = run(settings, "features", "show", "NOPE", dsn=ingested)
    assert unknown.returncode == 2 and "unknown game" in unknown.stderr


def test_evaluate_one_season_logs_to_mlflow(settings: Settings, ingested: str) -> None:
    import mlflow

    done = run(settings, "evaluate", "--seasons", "2021", "--target", "total_over", "--json",
               dsn=ingested)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["total_over"]
    (season,) = report["seasons"]
    assert season["season"] == 2021 and season["valid_season"] == 2020
    assert season["train_range"] == "2010-2019"
    assert season["games"] > 1000
    assert {"model", "opening_market", "closing_market", "betting"} <= set(season)
    assert season["model"]["n"] == season["opening_market"]["n"] == season["games"]
    mlflow.set_tracking_uri(settings.mlflow_uri)
    run_ = mlflow.MlflowClient().get_run(report["mlflow_run_id"])
    assert run_.data.tags["kind"] == "rolling_origin"
    assert run_.data.metrics["s2021_model_log_loss"] == season["model"]["log_loss"]


def test_evaluate_bad_options_are_clear_errors(settings: Settings) -> None:
    backwards = run(settings, "evaluate", "--seasons", "2021-2016")
    assert backwards.returncode == 2 and "forward" in backwards.stderr
    unknown = run(settings, "evaluate", "--target", "nope")
    assert unknown.returncode == 2 and "home_win" in unknown.stderr
