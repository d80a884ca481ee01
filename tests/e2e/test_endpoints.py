"""Every endpoint of the REST contract, through real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from firstpitch.api.schemas import PredictionResponse, TodayResponse
from storage.postgres import connect

GAME = "CIN202107040"  # a game of the pinned day (2021-07-04)
PAST = "NYA202106010"  # a finished game, before the pinned day

PREDICTION_FIELDS = {
    "game_id", "model_name", "model_version", "prediction_timestamp", "feature_version",
    "feature_cutoff_time", "home_ml_probability", "home_ml_binary", "home_ml_confidence",
    "total_over_probability", "total_over_binary", "total_over_confidence",
    "confidence_threshold_met", "risk_level", "betting_recommendations",
}  # fmt: skip
BET_FIELDS = {"expected_value", "kelly_fraction", "recommended_bet_size", "confidence_required",
              "odds", "market_probability"}  # fmt: skip


async def test_todays_games_are_warmed_at_startup(service: Any, ingested: str) -> None:
    """The service predicts the (pinned) day's games on its own: GET, which never computes,
    finds each of them in the cache."""
    conn = await connect(ingested)
    try:
        ids = [r["game_id"] for r in await conn.fetch(
            "SELECT game_id FROM games WHERE game_date = '2021-07-04'")]  # fmt: skip
    finally:
        await conn.close()
    assert len(ids) == 16
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=30
    ) as client:
        for _ in range(60):
            answers = [await client.get(f"/api/v1/predict/{g}") for g in ids]
            if all(a.status_code == 200 for a in answers):
                break
            await asyncio.sleep(0.5)
    assert [a.status_code for a in answers] == [200] * 16
    assert all(a.json()["cache_hit"] for a in answers)


def test_predict_has_the_whole_contract(client: httpx.Client) -> None:
    resp = client.post("/api/v1/predict", json={"game_id": GAME, "include_explanation": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= PREDICTION_FIELDS
    assert body["model_name"] == "firstpitch-home-win"
    assert body["feature_cutoff_time"] == "2021-07-04T16:05:00+00:00"
    assert body["prediction_timestamp"].startswith("2021-07-04T15:00:00")
    assert 0 < body["home_ml_probability"] < 1
    assert body["home_ml_binary"] == int(body["home_ml_probability"] >= 0.5)
    assert body["risk_level"] in {"low", "medium", "high"}
    for market in ("moneyline", "total"):
        assert set(body["betting_recommendations"][market]) >= BET_FIELDS
    explanation = body["explanation"]
    assert explanation["model_type"] == "lightgbm" and explanation["num_features"] >= 48
    assert len(explanation["top_features"]) == 10
    assert len(explanation["feature_importance"]) == explanation["num_features"]
    assert resp.headers["x-request-id"]


def test_batch_and_its_limits(client: httpx.Client) -> None:
    ok = client.post("/api/v1/predict/batch", json={"game_ids": [GAME, PAST, GAME]})
    assert ok.status_code == 200, ok.text
    assert [p["game_id"] for p in ok.json()] == [GAME, PAST, GAME]
    for item in ok.json():
        PredictionResponse.model_validate(item)
    for ids in ([], ["CIN202107040"] * 51):
        bad = client.post("/api/v1/predict/batch", json={"game_ids": ids})
        assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    named = client.post("/api/v1/predict/batch",
                        json={"game_ids": [GAME], "model_name": "firstpitch-total-over"})  # fmt: skip
    assert named.status_code == 200 and named.json()[0]["model_name"] == "firstpitch-total-over"


def test_get_cached_then_logged_then_404(client: httpx.Client) -> None:
    client.post("/api/v1/predict", json={"game_id": PAST})
    cached = client.get(f"/api/v1/predict/{PAST}")
    assert cached.status_code == 200 and cached.json()["cache_hit"] is True
    PredictionResponse.model_validate(cached.json())
    missing = client.get("/api/v1/predict/NYA202106020")
    assert missing.status_code == 404 and missing.json()["error"] == "no_prediction"
    malformed = client.get("/api/v1/predict/not-a-game")
    assert malformed.status_code == 422


def test_predictions_today_follow_the_pinned_clock(client: httpx.Client) -> None:
    resp = client.get("/api/v1/predictions/today")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    TodayResponse.model_validate(body)
    assert body["date"] == "2021-07-04" and body["count"] == 16
    assert {p["game_id"][3:11] for p in body["predictions"]} == {"20210704"}
    strict = client.get("/api/v1/predictions/today", params={"min_confidence": 0.6}).json()
    assert strict["count"] < body["count"]
    assert all(p["home_ml_confidence"] >= 0.6 for p in strict["predictions"])
    assert client.get("/api/v1/predictions/today", params={"min_confidence": 2}).status_code == 422


def test_model_endpoints(client: httpx.Client) -> None:
    active = client.get("/api/v1/models/active").json()["models"]
    assert {m["model_name"] for m in active} == {"firstpitch-home-win", "firstpitch-total-over"}
    detail = client.get("/api/v1/models/firstpitch-home-win").json()
    for field in ("model_name", "model_version", "model_type", "is_active", "created_at",
                  "target_variable", "total_predictions", "recent_accuracy", "recent_roi",
                  "feature_version", "metrics", "hyperparameters"):  # fmt: skip
        assert field in detail, field
    assert set(detail["metrics"]) == {"accuracy", "precision_score", "recall_score", "f1_score",
                                      "roc_auc"}  # fmt: skip
    assert detail["is_active"] is True and detail["total_predictions"] > 0
    # The champion's seasons: 2021 is held out of training and tuning.
    assert detail["training_range"] == "2005-2019"
    assert detail["validation_range"] == "2020" and detail["test_range"] == "2021"
    assert detail["data_range"]["test_range"] == "2021"
    client.post("/api/v1/predict/batch", json={"game_ids": [PAST, "BOS202106010"]})
    perf = client.get("/api/v1/models/firstpitch-home-win/performance",
                      params={"days": 30}).json()  # fmt: skip
    assert perf["resolved"] >= 1 and perf["accuracy"] is not None and perf["brier"] is not None
    board = client.get("/api/v1/models/leaderboard", params={"metric": "brier"}).json()
    assert board["leaderboard"] and board["leaderboard"][0]["rank"] == 1
    recent = client.get("/api/v1/models/firstpitch-home-win/recent-predictions",
                        params={"limit": 100}).json()  # fmt: skip
    assert 0 < recent["count"] <= 100
    assert any(p["actual"] is not None for p in recent["predictions"])
    assert client.get("/api/v1/models/nope").status_code == 404
    assert client.get("/api/v1/models/firstpitch-home-win",
                      params={"model_version": "999"}).status_code == 404  # fmt: skip
    wrong = client.get("/api/v1/models/firstpitch-home-win/performance",
                       params={"prediction_type": "total"})  # fmt: skip
    assert wrong.status_code == 422


def test_health_and_bentoml_probes(client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200, health.text
    components = health.json()["components"]
    assert {k for k, v in components.items() if v["status"] == "up"} == {
        "postgres",
        "redis",
        "models",
        "mlflow",
    }
    assert all("latency_ms" in v for v in components.values())
    assert client.get("/health/ready").status_code == 200
    assert client.get("/health/live").status_code == 200
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    for name in ("firstpitch_prediction_latency_seconds", "firstpitch_prediction_cache_total",
                 "firstpitch_feature_age_seconds", "firstpitch_log_queue_depth",
                 "firstpitch_log_spill_bytes"):  # fmt: skip
        assert name in metrics, name


def test_openapi_schema_and_hidden_docs(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/predict" in schema["paths"] and "/api/v1/predict/batch" in schema["paths"]
    assert "PredictionResponse" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 404
    assert client.get("/").status_code == 404


def test_errors_are_clear_and_never_5xx(client: httpx.Client) -> None:
    cases = [
        ({"game_id": "XXX202107040"}, 404, "unknown_game"),
        ({"game_id": GAME, "model_name": "nope"}, 404, "unknown_model"),
        ({"game_id": "CIN202109040"}, 409, "not_yet_predictable"),
        ({"game_id": GAME, "surprise": 1}, 422, "validation_error"),
        ({"game_id": 12}, 422, "validation_error"),
    ]
    for body, status, error in cases:
        resp = client.post("/api/v1/predict", json=body)
        assert (resp.status_code, resp.json()["error"]) == (status, error), resp.text
        assert "Traceback" not in resp.text
    raw = client.post("/api/v1/predict", content=b"{not json",
                      headers={"content-type": "application/json"})  # fmt: skip
    assert raw.status_code == 422 and "Traceback" not in raw.text
    assert client.get("/api/v1/models/leaderboard", params={"metric": "x"}).status_code == 422
    assert client.get("/api/v1/nothing").status_code == 404


async def test_performance_for_a_date_range_equals_a_recomputation_from_the_log(
    service: Any, ingested: str
) -> None:
    """Predictions of two June weeks, then the performance endpoints for those dates: each
    figure equals one recomputed in Python from the log, the results and the snapshots."""
    from datetime import UTC, date, datetime

    from replay.recompute import recompute

    days = {"date_from": "2021-06-01", "date_to": "2021-06-14"}
    conn = await connect(ingested)
    try:
        ids = [r["game_id"] for r in await conn.fetch(
            "SELECT game_id FROM games WHERE game_date BETWEEN '2021-06-01' AND '2021-06-14'"
            " ORDER BY game_id")]  # fmt: skip
        async with httpx.AsyncClient(
            base_url=service.url, headers=service.headers, timeout=60
        ) as client:
            for name in ("firstpitch-home-win", "firstpitch-total-over"):
                for i in range(0, len(ids), 50):
                    resp = await client.post("/api/v1/predict/batch",
                                             json={"game_ids": ids[i : i + 50], "model_name": name})  # fmt: skip
                    assert resp.status_code == 200, resp.text
            logged = "SELECT count(*) FROM prediction_log WHERE game_id = ANY($1)"
            for _ in range(100):  # the log is written asynchronously (within 50 ms here)
                held = await conn.fetchval(logged, ids)
                await asyncio.sleep(0.3)
                if held >= 2 * len(ids) and held == await conn.fetchval(logged, ids):
                    break
            perf = {}
            for name in ("firstpitch-home-win", "firstpitch-total-over"):
                resp = await client.get(f"/api/v1/models/{name}/performance", params=days)
                assert resp.status_code == 200, resp.text
                perf[name] = resp.json()
            board = (await client.get("/api/v1/models/leaderboard", params=days)).json()
        now = datetime(2021, 7, 4, 15, tzinfo=UTC)
        span = (date(2021, 6, 1), date(2021, 6, 14))
        for name, ptype in (("firstpitch-home-win", "moneyline"),
                            ("firstpitch-total-over", "total")):  # fmt: skip
            body = perf[name]
            ref = (await recompute(conn, ptype, now, date_from=span[0], date_to=span[1]))[
                body["model_version"]
            ]
            assert (body["date_from"], body["date_to"], body["days"]) == ("2021-06-01",
                                                                         "2021-06-14", 14)  # fmt: skip
            assert body["predictions"] == ref["predictions"] >= len(ids) - 2
            assert body["resolved"] == ref["resolved"] > 0
            for field in ("log_loss", "brier", "roi", "closing_line_value", "accuracy", "auc"):
                if ref[field] is None:
                    assert body[field] is None, field
                else:
                    assert abs(body[field] - ref[field]) <= 1e-9 * max(1, abs(ref[field])), field
            assert body["bets"] == ref["bets"] and body["clv_bets"] == ref["clv_bets"]
            ranked = [e for e in board["leaderboard"] if e["model_name"] == name]
            assert ranked and ranked[0]["log_loss"] == body["log_loss"]
        # Not vacuous: some recommended bet had a closing price to compare with (models that
        # start from the opening line recommend few bets; two weeks hold some).
        assert sum(p["clv_bets"] for p in perf.values()) > 0
    finally:
        await conn.close()


def test_bad_statistics_queries_are_refused(client: httpx.Client) -> None:
    perf = "/api/v1/models/firstpitch-home-win/performance"
    bad = [
        {"date_from": "2021-06-01"},  # a range needs both ends
        {"date_to": "2021-06-01"},
        {"date_from": "2021-06-30", "date_to": "2021-06-01"},  # reversed
        {"date_from": "2000-01-01", "date_to": "2021-06-01"},  # longer than ten years
        {"date_from": "2021-06-01", "date_to": "2021-06-30", "days": 5},  # both windows
        {"date_from": "June", "date_to": "2021-06-30"},
        {"date_from": "2021-02-30", "date_to": "2021-06-30"},
        {"days": 0},
        {"days": 4000},
    ]
    for params in bad:
        for path in (perf, "/api/v1/models/leaderboard"):
            resp = client.get(path, params=params)
            assert resp.status_code == 422, (path, params, resp.text)
            assert resp.json()["error"] in {"invalid_query", "validation_error"}, resp.text
            assert "Traceback" not in resp.text
    for path in ("/api/v1/models/firstpitch-home-win/recent-predictions",):
        assert client.get(path, params={"days": 0}).status_code == 422
        assert client.get(path, params={"limit": 501}).status_code == 422


async def test_a_corrected_result_shows_in_the_statistics_at_once(
    service: Any, ingested: str
) -> None:
    """A result sent through the feed resolves the game's logged predictions before the next
    statistics request answers: the correction turns the game around, and back."""
    conn = await connect(ingested)
    try:
        game = await conn.fetchval(
            "SELECT game_id FROM games JOIN game_results USING (game_id)"
            " WHERE game_date = '2021-06-02' ORDER BY game_id LIMIT 1")  # fmt: skip
        held = dict(await conn.fetchrow("SELECT * FROM game_results WHERE game_id = $1", game))
    finally:
        await conn.close()
    box = {k: held[k] for k in held if k.split("_", 1)[-1] in {"h", "hr", "bb", "k", "e", "er"}
           and k.split("_", 1)[0] in {"home", "away"}}  # fmt: skip
    original = {"game_id": game, "home_score": held["home_score"],
                "away_score": held["away_score"], "known_at": held["known_at"].isoformat(),
                "duration_min": held["duration_min"], "length_outs": held["length_outs"]} | box  # fmt: skip
    flipped = original | {"home_score": held["away_score"], "away_score": held["home_score"]}
    recent = "/api/v1/models/firstpitch-home-win/recent-predictions"
    perf = "/api/v1/models/firstpitch-home-win/performance"
    span = {"date_from": "2021-06-02", "date_to": "2021-06-02"}
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=60) as c:
        assert (await c.post("/api/v1/predict", json={"game_id": game})).status_code == 200

        async def actual() -> int | None:
            rows = (await c.get(recent, params={"limit": 500, "days": 3650})).json()
            return next(p["actual"] for p in rows["predictions"] if p["game_id"] == game)

        for _ in range(100):  # the prediction itself is logged asynchronously
            listed = (await c.get(recent, params={"limit": 500, "days": 3650})).json()
            if any(p["game_id"] == game for p in listed["predictions"]):
                break
            await asyncio.sleep(0.1)
        won = int(held["home_score"] > held["away_score"])
        assert await actual() == won
        before = (await c.get(perf, params=span)).json()
        try:
            fed = await c.post("/api/v1/feed/results", json={"records": [flipped]})
            assert fed.status_code == 200, fed.text
            assert fed.json()["corrected_games"] == [game]
            assert await actual() == 1 - won  # at once: no wait between the feed and the read
            after = (await c.get(perf, params=span)).json()
            assert after["resolved"] == before["resolved"]
            assert after["log_loss"] != before["log_loss"]
        finally:
            back = await c.post("/api/v1/feed/results", json={"records": [original]})
            assert back.status_code == 200, back.text
        assert await actual() == won
        assert (await c.get(perf, params=span)).json()["log_loss"] == before["log_loss"]
