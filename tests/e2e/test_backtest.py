"""``firstpitch backtest`` as a user runs it (a real process against the session's real
servers and models) on three weeks of 2021, then its run through real HTTP: the stored
numbers, the report and the endpoints' ``run=`` figures against an independent recomputation
from the stored records, the games' results and the odds snapshots."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from firstpitch.settings import Settings
from storage.postgres import connect
from tests.e2e.conftest import RunningService

pytestmark = pytest.mark.e2e
FIRST, LAST = "2021-05-01", "2021-05-21"
EPS = 1e-6
HOME, TOTAL = "firstpitch-home-win", "firstpitch-total-over"


def cli(settings: Settings, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "FIRSTPITCH_POSTGRES_DSN": dsn,
        "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
        "FIRSTPITCH_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "firstpitch", "backtest", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(
    settings: Settings, ingested: str, champions: dict[str, Any], tmp_path_factory: Any
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("backtest") / "report"
    done = cli(settings, ingested, "--season", "2021", "--from", FIRST, "--to", LAST,
               "--report-dir", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["report_dir"] == str(out)
    return summary


async def _fetch(dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def _decimal(american: float) -> float:
    return 1 + american / 100 if american > 0 else 1 + 100 / -american


async def recompute(dsn: str, run_id: str) -> dict[str, dict[str, Any]]:
    """The statistics from the run's records, results and snapshots, by their definitions."""
    records = await _fetch(dsn, "SELECT * FROM backtest_predictions WHERE run_id = $1", run_id)
    ids = [r["game_id"] for r in records]
    games = {g["game_id"]: g for g in await _fetch(
        dsn, "SELECT g.game_id, g.scheduled_start, r.home_score, r.away_score FROM games g "
        "LEFT JOIN game_results r USING (game_id) WHERE g.game_id = ANY($1)", ids)}  # fmt: skip
    snaps = await _fetch(dsn, "SELECT * FROM odds_snapshots WHERE game_id = ANY($1)", ids)
    out = {}
    for ptype, column, version in (
        ("moneyline", "home_ml_probability", "home_model_version"),
        ("total", "total_over_probability", "total_model_version"),
    ):
        ys, ps, profits, clvs = [], [], [], []
        for rec in records:
            game = games[rec["game_id"]]
            odds, bet = json.loads(rec["odds_used"]), json.loads(rec["recommendations"])[ptype]
            runs = (game["home_score"], game["away_score"])
            if runs[0] is None:
                continue
            if ptype == "moneyline":
                y = int(runs[0] > runs[1])
            else:
                if odds["open_total"] is None or sum(runs) == odds["open_total"]:
                    continue
                y = int(sum(runs) > odds["open_total"])
            ys.append(y)
            ps.append(min(1 - EPS, max(EPS, rec[column])))
            if not bet["recommended"]:
                continue
            won = (y == 1) == (bet["side"] in ("home", "over"))
            profits.append(bet["decimal_odds"] - 1 if won else -1.0)
            price_of = {"home": "home_price", "away": "away_price", "over": "over_price",
                        "under": "under_price"}[bet["side"]]  # fmt: skip
            market = "total" if ptype == "total" else "moneyline"
            seen = [
                s
                for s in snaps
                if s["game_id"] == rec["game_id"]
                and s["market"] == market
                and s["observed_at"] <= game["scheduled_start"]
                and s[price_of] is not None
            ]
            if seen:
                last = max(seen, key=lambda s: (s["observed_at"], s["source"]))
                if market == "moneyline" or float(last["line"]) == float(bet["line"]):
                    clvs.append(bet["decimal_odds"] / _decimal(last[price_of]) - 1)
        y_arr, p_arr = np.array(ys), np.array(ps)
        out[ptype] = {
            "model_version": records[0][version],
            "predictions": len(records),
            "resolved": len(ys),
            "accuracy": float(np.mean((p_arr >= 0.5).astype(int) == y_arr)),
            "log_loss": float(np.mean(-(y_arr * np.log(p_arr) + (1 - y_arr) * np.log(1 - p_arr)))),
            "brier": float(np.mean((p_arr - y_arr) ** 2)),
            "auc": float(roc_auc_score(y_arr, p_arr)),
            "bets": len(profits),
            "roi": float(np.mean(profits)) if profits else None,
            "closing_line_value": float(np.mean(clvs)) if clvs else None,
            "clv_bets": len(clvs),
        }
    return out


def _same(figures: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "model_version":
            continue
        if value is None or isinstance(value, int):
            assert figures[key] == value, (key, figures[key], value)
        else:
            assert figures[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


async def test_the_run_is_the_serving_path_as_of_each_cutoff(
    run: dict[str, Any], ingested: str, champions: dict[str, Any]
) -> None:
    from features.online import compute_vectors
    from storage.registry import bento_version, load_booster

    records = await _fetch(ingested, "SELECT * FROM backtest_predictions WHERE run_id = $1",
                           run["run_id"])  # fmt: skip
    games = await _fetch(ingested, "SELECT game_id, scheduled_start FROM games WHERE season = "
                         f"2021 AND game_date BETWEEN '{FIRST}' AND '{LAST}'")  # fmt: skip
    assert {r["game_id"] for r in records} == {g["game_id"] for g in games}
    assert run["games"] == len(games) > 250
    start = {g["game_id"]: g["scheduled_start"] for g in games}
    for rec in records:  # made with the clock at the cutoff, from features as of the cutoff
        cutoff = start[rec["game_id"]] - timedelta(minutes=60)
        assert rec["predicted_at"] == rec["feature_cutoff"] == cutoff
        assert rec["feature_as_of"] <= cutoff
    sample = records[:: max(1, len(records) // 6)]
    conn = await connect(ingested)
    try:  # the reference recomputation from the whole history, bit for bit
        reference = await compute_vectors(conn, [r["game_id"] for r in sample], cutoff_minutes=60)
    finally:
        await conn.close()
    for rec in sample:
        assert (
            bytes(rec["feature_vector"]) == reference[rec["game_id"]].values.astype("<f8").tobytes()
        )
        x = np.frombuffer(bytes(rec["feature_vector"]), dtype="<f8").reshape(1, -1)
        for column, name, version in (
            ("home_ml_probability", HOME, "home_model_version"),
            ("total_over_probability", TOTAL, "total_model_version"),
        ):
            booster = load_booster(bento_version(name, rec[version]))
            assert rec[column] == float(booster.predict(x)[0])
    live = await _fetch(
        ingested,
        "SELECT count(*) AS n FROM prediction_log WHERE request_id = $1 OR record_id = ANY($2)",
        run["run_id"],
        [r["record_id"] for r in records],
    )
    assert live[0]["n"] == 0  # nothing of the run reached the live log (nor its outcomes)
    outcome = await _fetch(
        ingested,
        "SELECT count(*) AS n FROM prediction_outcomes WHERE record_id = ANY($1)",
        [r["record_id"] for r in records],
    )
    assert outcome[0]["n"] == 0


async def test_stored_and_served_figures_equal_a_recomputation(
    run: dict[str, Any], ingested: str, service: RunningService
) -> None:
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=60
    ) as client:
        await _compare_figures(run, ingested, client)


async def _compare_figures(run: dict[str, Any], ingested: str, client: httpx.AsyncClient) -> None:
    expected = await recompute(ingested, run["run_id"])
    assert expected["total"]["bets"] + expected["moneyline"]["bets"] > 0  # not vacuous
    assert expected["total"]["clv_bets"] + expected["moneyline"]["clv_bets"] > 0
    stored = await _fetch(ingested, "SELECT summary FROM backtest_runs WHERE run_id = $1",
                          run["run_id"])  # fmt: skip
    summary = json.loads(stored[0]["summary"])
    for name, ptype in ((HOME, "moneyline"), (TOTAL, "total")):
        _same(summary["performance"][ptype], expected[ptype])
        _same(run["performance"][ptype], expected[ptype])
        resp = await client.get(f"/api/v1/models/{name}/performance", params={"run": run["run_id"]})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["run"] == run["run_id"]
        assert body["model_version"] == expected[ptype]["model_version"]
        _same(body, expected[ptype])
    board = (await client.get("/api/v1/models/leaderboard", params={"run": run["run_id"]})).json()
    assert board["run"] == run["run_id"]
    assert {(e["model_name"], e["model_version"]) for e in board["leaderboard"]} == {
        (HOME, expected["moneyline"]["model_version"]),
        (TOTAL, expected["total"]["model_version"]),
    }
    for entry in board["leaderboard"]:
        _same(entry, expected["moneyline" if entry["model_name"] == HOME else "total"])
    assert [e["log_loss"] for e in board["leaderboard"]] == sorted(
        e["log_loss"] for e in board["leaderboard"]
    )
    # a range of the run's dates: the games played then only
    week = await client.get(
        f"/api/v1/models/{HOME}/performance",
        params={"run": run["run_id"], "date_from": FIRST, "date_to": "2021-05-07"},
    )
    assert 0 < week.json()["resolved"] < expected["moneyline"]["resolved"], week.text
    # and live statistics over the same dates know nothing of the run
    live = (
        await client.get(
            f"/api/v1/models/{HOME}/performance", params={"date_from": FIRST, "date_to": LAST}
        )
    ).json()
    rows = await _fetch(
        ingested,
        "SELECT count(*) AS n FROM prediction_outcomes WHERE "
        f"prediction_type = 'moneyline' AND game_date BETWEEN '{FIRST}' AND "
        f"'{LAST}' AND model_version = $1",
        live["model_version"],
    )
    assert live["predictions"] == rows[0]["n"] < run["games"]


def test_the_report_holds_what_the_run_stored(run: dict[str, Any], settings: Settings) -> None:
    import mlflow

    out = Path(run["report_dir"])
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == {k: v for k, v in run.items() if k not in ("report_dir", "mlflow_run_id")}
    html = (out / "report.html").read_text()
    for name in on_disk["plots"].values():
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, name
        assert f'src="{name}"' in html
    assert f"<h1>Backtest {run['run_id']}</h1>" in html
    assert (
        sum(b["count"] for b in on_disk["calibration"])
        == on_disk["performance"]["moneyline"]["resolved"]
    )
    assert on_disk["bets"]["total"]["count"] == on_disk["performance"]["total"]["bets"]
    months = on_disk["monthly_log_loss"]
    assert [m["month"] for m in months] == ["2021-05"] and months[0]["games"] > 250
    client = mlflow.MlflowClient(settings.mlflow_uri)
    version = client.get_model_version(HOME, on_disk["model_version"])
    assert version.run_id == run["mlflow_run_id"]
    logged = {Path(f.path).name for f in client.list_artifacts(
        run["mlflow_run_id"], f"backtests/{run['run_id']}")}  # fmt: skip
    assert logged == {"report.html", "summary.json", *on_disk["plots"].values()}
    assert math.isfinite(on_disk["elapsed_s"]) and on_disk["elapsed_s"] > 0


def test_the_python_client_passes_run(run: dict[str, Any], service: RunningService) -> None:
    from firstpitch.client import FirstPitchClient

    token = service.headers["Authorization"].removeprefix("Bearer ")
    with FirstPitchClient(service.url, api_key=token, timeout=60) as fp:
        perf = fp.model_performance(TOTAL, run=run["run_id"])
        board = fp.leaderboard(run=run["run_id"], metric="brier")
    assert perf.run == run["run_id"] and perf.resolved == run["performance"]["total"]["resolved"]
    assert perf.log_loss == pytest.approx(run["performance"]["total"]["log_loss"], rel=1e-12)
    assert board.run == run["run_id"] and len(board.leaderboard) == 2


def test_run_parameter_errors(run: dict[str, Any], client: httpx.Client) -> None:
    perf = f"/api/v1/models/{HOME}/performance"
    unknown = client.get(perf, params={"run": "bt-2021-00000000"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_run", unknown.text
    board = client.get("/api/v1/models/leaderboard", params={"run": "bt-2021-00000000"})
    assert board.status_code == 404 and board.json()["error"] == "unknown_run"
    for bad in ("bt-21-0", "x" * 20, "bt-2021-ABCDEF12"):
        for path in (perf, "/api/v1/models/leaderboard"):
            resp = client.get(path, params={"run": bad})
            assert resp.status_code == 422 and resp.json()["error"] == "validation_error", resp.text
    for params in ({"days": 7}, {"date_from": FIRST}, {"model_version": "999"}):
        resp = client.get(perf, params={"run": run["run_id"], **params})
        assert resp.status_code == 422 and resp.json()["error"] == "invalid_query", resp.text
    lost = client.get("/api/v1/models/nope/performance", params={"run": run["run_id"]})
    assert lost.status_code == 404 and lost.json()["error"] == "unknown_model"
    schema = client.get("/openapi.json").json()["paths"]
    for path in (perf.replace(HOME, "{model_name}"), "/api/v1/models/leaderboard"):
        names = {p["name"]: p for p in schema[path]["get"]["parameters"]}
        assert '"pattern": "^bt-[0-9]{4}-[0-9a-f]{8}$"' in json.dumps(names["run"]["schema"])
        assert names["run"]["required"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--season", "1990"), "no games of season 1990"),
        (("--season", "2021", "--model-version", "999"), "has no version 999"),
        (("--season", "2021", "--model-version", "v2"), "registry version number"),
        (("--season", "2021", "--model", "nope"), "unknown model 'nope'"),
        (("--season", "2021", "--from", "2021-13-01"), "--from is a date"),
        (("--season", "2021", "--from", "2020-05-01"), "must lie in season 2021"),
    ],
)
async def test_bad_input_is_a_clear_error_and_writes_nothing(
    args: tuple[str, ...], message: str, settings: Settings, ingested: str,
    champions: dict[str, Any], tmp_path: Path,
) -> None:  # fmt: skip
    before = await _fetch(ingested, "SELECT count(*) AS n FROM backtest_runs")
    out = tmp_path / "report"
    done = cli(settings, ingested, *args, "--report-dir", str(out))
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert message in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert not out.exists()
    after = await _fetch(ingested, "SELECT count(*) AS n FROM backtest_runs")
    assert after == before


def test_a_non_empty_report_directory_is_refused(
    settings: Settings, ingested: str, champions: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = cli(settings, ingested, "--season", "2021", "--from", "2021-07-04", "--to",
               "2021-07-04", "--report-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "is not empty" in " ".join(done.stderr.split())
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


async def test_a_failure_at_the_end_leaves_nothing(
    settings: Settings, ingested: str, champions: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """MLflow failing once the run is scored: no run row, no records, no report directory."""
    from datetime import date

    from firstpitch.backtest.run import Request, run_backtest
    from storage import registry

    def unreachable(*args: Any) -> str:
        raise ConnectionError("MLflow unreachable")

    monkeypatch.setattr(registry, "log_backtest", unreachable)
    out = tmp_path / "report"
    day = date(2021, 7, 4)
    request = Request(season=2021, model_name=HOME, date_from=day, date_to=day, report_dir=out,
                      run_id="bt-2021-deadbeef")  # fmt: skip
    with pytest.raises(ConnectionError):
        await run_backtest(settings, ingested, request)
    for table in ("backtest_runs", "backtest_predictions", "backtest_outcomes"):
        rows = await _fetch(ingested, f"SELECT count(*) AS n FROM {table} WHERE run_id = $1",
                            "bt-2021-deadbeef")  # fmt: skip
        assert rows[0]["n"] == 0, table
    assert await asyncio.to_thread(os.listdir, tmp_path) == []
