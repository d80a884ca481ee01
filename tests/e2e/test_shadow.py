"""A challenger in shadow through the real service (models in the model service, or in the
API process): `firstpitch promote --challenger` makes a running service score every game
its champion scores by the challenger too, logged flagged shadow and never served unless
its version is asked for; the leaderboard's head-to-head equals a recomputation from the
stored records, its paired interval included; bad input gets a precise 4xx."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from replay.recompute import _closing, latest
from storage import challenger_state, registry
from storage import redis as redis_store
from storage.postgres import connect
from tests.e2e.conftest import PINNED_NOW, UNHURRIED, start_service
from tests.e2e.test_champion_swap import expected
from tests.test_cli import run
from training.dataset import REGISTERED_NAMES

PLAYED = (date(2021, 7, 1), date(2021, 7, 3))  # finished before the pinned clock's now
NOW = datetime.fromisoformat(PINNED_NOW.replace("Z", "+00:00")).astimezone(UTC)


# A record's vector: its own, else the one stored once under its hash (migration 0014).
LOGGED = """SELECT l.*, coalesce(l.feature_vector, v.feature_vector) AS feature_vector
FROM prediction_log l LEFT JOIN feature_vectors v USING (feature_hash)
WHERE l.request_id = $1"""


async def logged(conn: asyncpg.Connection, rid: str, n: int) -> list[dict[str, Any]]:
    for _ in range(300):
        rows = await conn.fetch(LOGGED, rid)
        if len(rows) >= n:
            await asyncio.sleep(0.5)  # nothing more arrives
            rows = await conn.fetch(LOGGED, rid)
            return [dict(r) for r in rows]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rid}: fewer than {n} records logged")


def ece(p: np.ndarray, y: np.ndarray) -> float:
    """Expected calibration error over ten equal-width bins, written out bin by bin."""
    total = 0.0
    for k in range(10):
        lo, hi = k / 10, (k + 1) / 10
        inside = (p >= lo) & ((p < hi) if k < 9 else (p <= hi))
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    return float(total / len(p))


async def head_to_head(
    conn: asyncpg.Connection, versions: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Each version's moneyline figures on the games all of them resolved, recomputed from
    the log, the results and the odds snapshots; and each version's per-game log losses."""
    records = await latest(conn, "moneyline")
    results = {r["game_id"]: dict(r) for r in await conn.fetch("SELECT * FROM game_results")}
    starts = {r["game_id"]: r["scheduled_start"]
              for r in await conn.fetch("SELECT game_id, scheduled_start FROM games")}  # fmt: skip
    per: dict[str, dict[str, dict[str, Any]]] = {v: {} for v in versions}
    for (version, game), rec in records.items():
        result = results.get(game)
        recent = NOW - timedelta(days=30) <= rec["predicted_at"] <= NOW
        if version in per and result is not None and result["known_at"] <= NOW and recent:
            per[version][game] = rec | {"y": int(result["home_score"] > result["away_score"])}
    common = sorted(set.intersection(*(set(g) for g in per.values())))
    out, losses = {}, {}
    for version, rows in per.items():
        p = np.clip([rows[g]["home_ml_probability"] for g in common], 1e-6, 1 - 1e-6)
        y = np.array([rows[g]["y"] for g in common], dtype=np.float64)
        losses[version] = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        profits, clv = [], []
        for g in common:
            bet = json.loads(rows[g]["recommendations"])["moneyline"]
            if not bet.get("recommended"):
                continue
            won = (rows[g]["y"] == 1) == (bet["side"] == "home")
            profits.append(bet["decimal_odds"] - 1 if won else -1.0)
            snaps = [dict(s) for s in await conn.fetch(
                "SELECT * FROM odds_snapshots WHERE game_id = $1", g)]  # fmt: skip
            close = _closing(snaps, starts[g], bet)
            if close is not None:
                clv.append(bet["decimal_odds"] / close - 1)
        out[version] = {
            "games": len(common),
            "log_loss": float(losses[version].mean()),
            "brier": float(((p - y) ** 2).mean()),
            "accuracy": float(((p >= 0.5) == (y == 1)).mean()),
            "calibration_error": ece(p, y),
            "bets": len(profits),
            "roi": float(np.mean(profits)) if profits else None,
            "clv_bets": len(clv),
            "closing_line_value": float(np.mean(clv)) if clv else None,
        }
    return out, losses


def check_leaderboard(
    board: dict[str, Any],
    old: str,
    new: str,
    figures: dict[str, dict[str, Any]],
    losses: dict[str, np.ndarray],
) -> None:
    (h2h,) = [h for h in board["head_to_head"] if h["prediction_type"] == "moneyline"]
    assert h2h["champion_version"] == old and h2h["challenger_versions"] == [new]
    assert h2h["games"] == figures[old]["games"] > 0 and not h2h["truncated"]
    by_version = {e["model_version"]: e for e in h2h["entries"]}
    assert by_version[old]["role"] == "champion" and by_version[new]["role"] == "challenger"
    for version, want in figures.items():
        for key, value in want.items():
            got = by_version[version][key]
            assert (got is None) == (value is None), (version, key)
            if value is not None:
                assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (version, key, got)
    ranked = sorted(figures, key=lambda v: figures[v]["log_loss"])
    assert [e["model_version"] for e in h2h["entries"]] == ranked
    assert [e["rank"] for e in h2h["entries"]] == [1, 2]
    # the paired interval, recomputed: per-game log-loss differences, Student's t
    d = losses[new] - losses[old]
    n, mean = len(d), float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1)) * se
    (cmp,) = h2h["comparisons"]
    assert cmp["model_version"] == new and cmp["games"] == n
    got = cmp["log_loss"]
    assert got["mean_difference"] == pytest.approx(mean, rel=1e-9, abs=1e-15)
    assert got["ci_low"] == pytest.approx(mean - half, rel=1e-9, abs=1e-15)
    assert got["ci_high"] == pytest.approx(mean + half, rel=1e-9, abs=1e-15)
    assert got["p_value"] == pytest.approx(
        float(stats.ttest_rel(losses[new], losses[old]).pvalue), rel=1e-6
    )
    assert got["ci_low"] < got["mean_difference"] < got["ci_high"]


async def bad_input(client: httpx.AsyncClient, game: str, new: str) -> None:
    cases = [
        ({"game_id": game, "model_version": "999"}, 404, "unknown_model_version"),
        ({"game_id": game, "model_version": new, "model_name": REGISTERED_NAMES["total_over"]},
         404, "unknown_model_version"),  # a home-win challenger is no total-over version
        ({"game_id": game, "model_version": "abc"}, 422, "validation_error"),
        ({"game_id": game, "model_version": 3}, 422, "validation_error"),
        ({"game_id": game, "model_version": new, "model_name": "nope"}, 404, "unknown_model"),
    ]  # fmt: skip
    for body, status, error in cases:
        resp = await client.post("/api/v1/predict", json=body)
        assert resp.status_code == status and resp.json()["error"] == error, (body, resp.text)
    resp = await client.post(
        "/api/v1/predict/batch", json={"game_ids": [game], "model_version": "999"}
    )
    assert resp.status_code == 404 and "is not served" in resp.json()["message"], resp.text


@pytest.mark.parametrize("inference", ["service", "local"])
@pytest.mark.usefixtures("bento_store_restored")
async def test_a_challenger_scores_in_shadow_and_is_ranked_on_the_same_games(
    settings: Settings, ingested: str, champions: dict[str, Any], tmp_path: Path, inference: str
) -> None:
    from training.run import run_training

    home, total = REGISTERED_NAMES["home_win"], REGISTERED_NAMES["total_over"]
    uri, artifacts = settings.mlflow_uri, settings.mlflow_artifacts
    old = registry.champion_version(uri, artifacts, home)
    total_version = registry.champion_version(uri, artifacts, total)
    assert old is not None and total_version is not None
    endpoints = Endpoints(ingested, settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    newer = await run_training(
        settings, endpoints, "home_win", promote=False,
        grid={"num_leaves": [7], "min_data_in_leaf": [200]}, max_rounds=30,
    )  # fmt: skip
    new = newer["model_version"]
    conn = await connect(ingested)
    games = [r["game_id"] for r in await conn.fetch(
        "SELECT game_id FROM games WHERE game_date BETWEEN $1 AND $2 ORDER BY game_id LIMIT 50",
        *PLAYED)]  # fmt: skip
    svc = start_service(
        settings, ingested, tmp_path, FIRSTPITCH_INFERENCE=inference,
        FIRSTPITCH_CHAMPION_POLL_S="0.5", FIRSTPITCH_PREDICTION_CACHE="false",
        # any edge and confidence: a bet wherever the expected value is positive, so that ROI
        # and closing-line value have what bets there are to count (models this small rarely
        # beat the vig: their figures are then null on both sides, and checked as such)
        FIRSTPITCH_MIN_EDGE="0.0", FIRSTPITCH_MIN_CONFIDENCE="0.5", **UNHURRIED,
    )  # fmt: skip
    rid = f"shadow-{uuid.uuid4().hex[:10]}"
    try:
        async with httpx.AsyncClient(base_url=svc.url, headers=svc.headers, timeout=120) as client:
            ask = {"game_id": games[0], "model_version": new}
            before = await client.post("/api/v1/predict", json=ask)
            assert before.status_code == 404, before.text
            assert before.json()["error"] == "unknown_model_version"

            done = await asyncio.to_thread(run, settings, "promote", home, new, "--challenger", "--json")  # fmt: skip
            assert done.returncode == 0, done.stderr
            out = json.loads(done.stdout)
            assert [c["version"] for c in out["challengers"]["home_win"]] == [new]
            assert out["challengers"]["total_over"] == []
            assert registry.challenger_versions(uri, artifacts, home) == [new]
            assert registry.champion_version(uri, artifacts, home) == old  # still the champion

            for _ in range(200):  # adopted within a poll and a load, without a restart
                asked = await client.post("/api/v1/predict", json=ask)
                if asked.status_code != 404:
                    break
                await asyncio.sleep(0.1)
            assert asked.status_code == 200, asked.text
            answer = asked.json()
            assert answer["model_version"] == new
            assert answer["models"]["home_win"]["model_version"] == new
            assert answer["models"]["total_over"]["model_version"] == total_version

            batch = await client.post(
                "/api/v1/predict/batch", json={"game_ids": games}, headers={"x-request-id": rid}
            )
            assert batch.status_code == 200, batch.text
            served = {a["game_id"]: a for a in batch.json()}
            for a in served.values():  # never served by default
                assert a["model_version"] == old and a["models"]["home_win"]["model_version"] == old
            await bad_input(client, games[0], new)

            records = await logged(conn, rid, 2 * len(games))
            shadow = {r["game_id"]: r for r in records if r["shadow"]}
            plain = {r["game_id"]: r for r in records if not r["shadow"]}
            assert len(records) == 2 * len(games)
            assert set(shadow) == set(plain) == set(games)  # every game scored, once each
            # models in process: scored by the log's writer process; else in the worker
            writer = (await client.get("/health")).json()["log_writer"]
            assert writer["shadow_failed"] == 0, writer
            if inference == "local":
                assert writer["shadow_scored"] >= len(games), writer
            else:
                assert writer["shadow_scored"] == 0, writer
            got = await client.get(f"/api/v1/predict/{games[1]}")  # the log's latest: served
            assert got.json()["models"]["home_win"]["model_version"] == old, got.text
            some = shadow[games[1]]["record_id"]
            rec = (await client.get(f"/api/v1/predictions/records/{some}")).json()
            assert rec["shadow"] is True and rec["cache_hit"] is False
            replay = (await client.post(f"/api/v1/predictions/records/{some}/replay")).json()
            assert replay["identical"] is True, replay

            vecs = {g: np.frombuffer(bytes(r["feature_vector"]), dtype="<f8") for g, r in plain.items()}  # fmt: skip
            by_new, by_old = expected(home, new, vecs), expected(home, old, vecs)
            assert abs(answer["home_ml_probability"] - by_new[games[0]]) < 1e-12
            for g in games:
                s, p = shadow[g], plain[g]
                assert (s["model_name"], s["model_version"]) == (home, new)
                assert (s["home_model_version"], s["total_model_version"]) == (new, total_version)
                assert (p["home_model_version"], p["total_model_version"]) == (old, total_version)
                assert s["feature_hash"] == p["feature_hash"] and s["odds_used"] == p["odds_used"]
                assert abs(s["home_ml_probability"] - by_new[g]) < 1e-12, g
                assert abs(p["home_ml_probability"] - by_old[g]) < 1e-12, g
                assert s["total_over_probability"] == p["total_over_probability"]
                assert served[g]["home_ml_probability"] == p["home_ml_probability"]
            assert any(by_new[g] != by_old[g] for g in games)

            board = await client.get(
                "/api/v1/models/leaderboard", params={"prediction_type": "moneyline"}
            )
            assert board.status_code == 200, board.text
            figures, losses = await head_to_head(conn, [old, new])
            check_leaderboard(board.json(), old, new, figures, losses)
            print(f"head-to-head ({inference}): {json.dumps(board.json()['head_to_head'])}")
    finally:
        svc.stop()
        registry.retire_challenger(uri, artifacts, home, new)
        client = await redis_store.connect(settings.redis_url.get_secret_value())  # type: ignore[union-attr]
        await client.delete(challenger_state.KEY)  # the session's other services: as they were
        await client.aclose()
        await conn.close()
        await asyncio.sleep(2)  # other running services drop the challenger within a poll


@pytest.mark.usefixtures("bento_store_restored")
async def test_a_repricing_feed_batch_scores_the_challenger_too(
    settings: Settings, own_postgres: Any, champions: dict[str, Any], tmp_path: Path
) -> None:
    """Re-pricing after a feed batch re-predicts by the champions and, in shadow, by the
    challenger, in one transaction with its event (its own database: the feed writes)."""
    from tests.e2e.conftest import create_key
    from training.run import run_training

    home = REGISTERED_NAMES["home_win"]
    uri, artifacts = settings.mlflow_uri, settings.mlflow_artifacts
    dsn = own_postgres.dsn
    old = registry.champion_version(uri, artifacts, home)
    endpoints = Endpoints(dsn, settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    newer = await run_training(
        settings, endpoints, "home_win", promote=False,
        grid={"num_leaves": [7], "min_data_in_leaf": [200]}, max_rounds=30,
    )  # fmt: skip
    new = newer["model_version"]
    feeder = {"Authorization": f"Bearer {create_key(dsn, 'shadow-feeder', ('feed',))}"}
    svc = start_service(settings, dsn, tmp_path, FIRSTPITCH_CHAMPION_POLL_S="0.5", **UNHURRIED)
    conn = await connect(dsn)
    try:
        done = await asyncio.to_thread(run, settings, "promote", home, new, "--challenger", "--json", dsn=dsn)  # fmt: skip
        assert done.returncode == 0, done.stderr
        async with httpx.AsyncClient(base_url=svc.url, headers=svc.headers, timeout=120) as client:
            later = await conn.fetchval(
                "SELECT game_id FROM games WHERE game_date = '2021-07-04' AND scheduled_start > "
                "$1::timestamptz + interval '3 hours' ORDER BY game_id LIMIT 1", NOW)  # fmt: skip
            for _ in range(200):
                asked = await client.post(
                    "/api/v1/predict", json={"game_id": later, "model_version": new}
                )
                if asked.status_code != 404:
                    break
                await asyncio.sleep(0.1)
            assert asked.status_code == 200, asked.text
            odds = {"game_id": later, "market": "moneyline", "source": "book-shadow",
                    "observed_at": "2021-07-04T14:30:00Z", "home_price": -155, "away_price": 135}  # fmt: skip
            fed = await client.post("/api/v1/feed/odds", json={"records": [odds]}, headers=feeder)
            assert fed.status_code == 200, fed.text
            assert fed.json()["repricing"] == "done", fed.text
            assert ("prediction", later) in [
                (e["type"], e["game_id"]) for e in fed.json()["events"]
            ]
        for _ in range(100):
            rows = await conn.fetch(
                LOGGED.replace("l.request_id = $1", "l.endpoint = 'feed' AND l.game_id = $1"),
                later,
            )
            if len(rows) >= 2:
                break
            await asyncio.sleep(0.1)
        by_shadow = {r["shadow"]: dict(r) for r in rows}
        assert len(rows) == 2 and set(by_shadow) == {True, False}, rows
        assert by_shadow[False]["home_model_version"] == old
        assert by_shadow[True]["home_model_version"] == new
        assert by_shadow[True]["feature_hash"] == by_shadow[False]["feature_hash"]
        vec = np.frombuffer(bytes(by_shadow[True]["feature_vector"]), dtype="<f8")
        want = expected(home, new, {later: vec})[later]
        assert abs(by_shadow[True]["home_ml_probability"] - want) < 1e-12
    finally:
        svc.stop()
        await conn.close()
        registry.retire_challenger(uri, artifacts, home, new)
        client = await redis_store.connect(settings.redis_url.get_secret_value())  # type: ignore[union-attr]
        await client.delete(challenger_state.KEY)
        await client.aclose()
        await asyncio.sleep(2)


def test_promote_refuses_what_it_cannot_do_to_a_challenger(
    settings: Settings, champions: dict[str, Any]
) -> None:
    home = REGISTERED_NAMES["home_win"]
    champion = registry.champion_version(settings.mlflow_uri, settings.mlflow_artifacts, home)
    assert champion is not None
    for args, message in (
        ((home, champion, "--challenger", "--retire"), "either --challenger or --retire"),
        ((home, champion, "--retire"), f"version {champion} is not a challenger"),
        ((home, "999", "--challenger"), "has no version 999"),
    ):
        done = run(settings, "promote", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert registry.challenger_versions(settings.mlflow_uri, settings.mlflow_artifacts, home) == []
