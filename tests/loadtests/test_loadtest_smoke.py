"""The load-test harness end to end: a real service, locust in its own process, the gates.

Runs ``loadtests/run_loadtest.py --smoke`` against a service of this test session (clock
pinned to 2021-07-04) on games of June 2021 up to the day before, then re-checks the same
reports against impossible thresholds to prove that a breach fails the run.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from firstpitch.settings import PROJECT_ROOT, Settings
from storage.postgres import connect
from tests.e2e.conftest import start_service

RUNNER = PROJECT_ROOT / "loadtests" / "run_loadtest.py"
SCENARIOS = {"single-miss", "single-hit", "batch10", "batch50", "get-cached", "today"}
# Before the pinned day: the service's warm-up predicts the pinned day's games itself, so
# those could not be cache misses.
GAMES = "SELECT game_id FROM games WHERE game_date BETWEEN '2021-06-01' AND '2021-07-03'"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=PROJECT_ROOT,
        check=False,
    )


async def test_smoke_load_test_serves_every_scenario_within_its_gates(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    conn = await connect(ingested)
    try:
        ids = [r["game_id"] for r in await conn.fetch(GAMES)]
    finally:
        await conn.close()
    games, out = tmp_path / "games.json", tmp_path / "report"
    games.write_text(json.dumps(ids))
    service = start_service(settings, ingested, tmp_path)
    try:
        key = service.headers["Authorization"].removeprefix("Bearer ")
        run = _run("--smoke", "--url", service.url, "--games-file", str(games), "--api-key", key,
                   "--redis-url", settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
                   "--out", str(out))  # fmt: skip
    finally:
        service.stop()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert "PASS" in run.stdout

    for report in ("locust_stats.csv", "locust_failures.csv", "locust.html", "summary.json"):
        assert (out / report).stat().st_size > 0, report
    with (out / "locust_stats.csv").open(newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    assert SCENARIOS | {"Aggregated"} <= set(rows)
    for name, row in rows.items():
        assert int(row["Failure Count"]) == 0, name
        if name in SCENARIOS:
            assert int(row["Request Count"]) > 0, name
    cache = json.loads((out / "cache.json").read_text())
    assert cache["single-miss"]["hit"] == 0 and cache["single-miss"]["miss"] > 0
    assert cache["single-hit"]["miss"] == 0 and cache["single-hit"]["hit"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and summary["url"] == service.url

    strict = tmp_path / "strict.yaml"
    strict.write_text('scenarios:\n  "*": {p50_ms: 0}\n')
    breach = _run("--check-only", "--out", str(out), "--thresholds", str(strict))
    assert breach.returncode == 1, f"{breach.stdout}\n{breach.stderr}"
    assert "BREACH single-hit: p50" in breach.stdout
