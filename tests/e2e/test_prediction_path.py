"""The prediction path end to end: exact probabilities, cache, cutoff refusal, concurrency."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import httpx
import numpy as np
import redis.asyncio as aioredis

from features.definitions import FEATURE_VERSION
from features.store import FeatureStore
from firstpitch.api.schemas import PredictionResponse
from runners.champions import load_champions
from tests.e2e.conftest import RunningService


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_served_probability_is_the_boosters_on_the_stored_vector(
    service: RunningService, redis_client: aioredis.Redis
) -> None:
    game = "CLE202107040"
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=60
    ) as client:
        body = (await client.post("/api/v1/predict", json={"game_id": game})).json()
    found, _ = await FeatureStore(redis_client, 600).read([game], FEATURE_VERSION)
    vector = found[game]
    assert vector.as_of.isoformat() == body["feature_as_of"]
    models = load_champions()
    x = vector.values.reshape(1, -1)
    assert body["home_ml_probability"] == float(models["home_win"].booster.predict(x)[0])
    assert body["total_over_probability"] == float(models["total_over"].booster.predict(x)[0])
    assert body["model_version"] == models["home_win"].version


def test_second_call_is_a_cache_hit(client: httpx.Client) -> None:
    game = "DET202107040"
    first = client.post("/api/v1/predict", json={"game_id": game}).json()
    before = _metric(client.get("/metrics").text, 'firstpitch_prediction_cache_total{result="hit"}')
    second = client.post("/api/v1/predict", json={"game_id": game}).json()
    after = _metric(client.get("/metrics").text, 'firstpitch_prediction_cache_total{result="hit"}')
    assert second["cache_hit"] is True
    assert second["home_ml_probability"] == first["home_ml_probability"]
    assert second["prediction_timestamp"] == first["prediction_timestamp"]
    assert after - before >= 1


async def test_a_vector_past_its_cutoff_is_refused_and_never_served(
    service: RunningService, redis_client: aioredis.Redis
) -> None:
    game = "PHI202106300"  # a past game nobody has predicted in this session
    client = httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=60)
    store = FeatureStore(redis_client, 600)
    first = await client.post("/api/v1/predict", json={"game_id": game})  # the honest vector
    assert first.status_code == 200, first.text
    async for key in redis_client.scan_iter(match=f"fp:pred:*:{game}"):
        await redis_client.delete(key)
    found, _ = await store.read([game], FEATURE_VERSION)
    honest = found[game]
    leaky = replace(honest, as_of=honest.cutoff + timedelta(hours=3),
                    values=np.full_like(honest.values, 0.123))  # fmt: skip
    await store.write([leaky])
    refusals = _metric((await client.get("/metrics")).text, "firstpitch_cutoff_refusals_total")
    body = (await client.post("/api/v1/predict", json={"game_id": game})).json()
    assert body["feature_as_of"] == honest.as_of.isoformat()  # recomputed, not the leaky one
    assert body["feature_as_of"] <= body["feature_cutoff_time"]
    after = _metric((await client.get("/metrics")).text, "firstpitch_cutoff_refusals_total")
    await client.aclose()
    assert after == refusals + 1
    repaired, refused = await store.read([game], FEATURE_VERSION)
    assert refused == [] and np.array_equal(repaired[game].values, honest.values, equal_nan=True)


async def test_200_concurrent_requests_without_a_5xx(service: RunningService) -> None:
    """Enough concurrent calls to cross the depends() client's session refresh (every 100
    requests) many times over, mixing cache misses, hits and batches."""
    days = [f"202106{d:02d}" for d in range(1, 29)]
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=120
    ) as client:
        ids = (await client.get("/api/v1/predictions/today")).json()["predictions"]
        today = [p["game_id"] for p in ids]

        async def one(i: int) -> tuple[int, str]:
            if i % 10 == 0:
                resp = await client.post("/api/v1/predict/batch",
                                         json={"game_ids": today[:10]})  # fmt: skip
            else:
                game = today[i % len(today)] if i % 3 else f"NYA{days[i % len(days)]}0"
                resp = await client.post("/api/v1/predict", json={"game_id": game})
            detail = "" if resp.status_code == 200 else resp.json().get("message", "")
            return resp.status_code, detail

        for _ in range(2):
            answers = await asyncio.gather(*(one(i) for i in range(200)))
            codes = Counter(code for code, _ in answers)
            assert not [c for c in codes if c >= 500], Counter(a for a in answers if a[0] >= 500)
            assert codes[200] + codes[404] == 200  # NYA road days are unknown games: 404
    assert "Session is closed" not in service.log()
    assert not re.search(r"\[ERROR\].*firstpitch", service.log())


async def test_get_falls_back_to_the_logged_prediction(
    service: RunningService, redis_client: aioredis.Redis
) -> None:
    game = "MIL202106300"
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=60
    ) as client:
        made = (await client.post("/api/v1/predict", json={"game_id": game})).json()
        async for key in redis_client.scan_iter(match=f"fp:pred:*:{game}"):
            await redis_client.delete(key)  # the cache is gone: Postgres must answer
        for _ in range(40):
            resp = await client.get(f"/api/v1/predict/{game}")
            if resp.status_code == 200:
                break
            await asyncio.sleep(0.25)  # the log writer flushes in batches
        body = resp.json()
    assert resp.status_code == 200, body
    PredictionResponse.model_validate(body)
    assert body["cache_hit"] is False
    assert body["home_ml_probability"] == made["home_ml_probability"]
    assert body["feature_cutoff_time"] == made["feature_cutoff_time"]
    assert body["betting_recommendations"] == made["betting_recommendations"]
