"""`firstpitch promote` swaps the champion of a running service (two API workers; models in
the model service, or in each worker) while clients keep calling it, and rolls it back the same way: no failed request,
every answer by the versions its `models` field names, no old answer after the swap."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from storage import champion_state, registry
from storage import redis as redis_store
from tests.e2e.conftest import UNHURRIED, RunningService, start_service
from tests.faults.load import today
from tests.test_cli import run
from training.dataset import REGISTERED_NAMES

POLL_S = 0.5
# A worker checks every POLL_S and then loads the version: answers that started this long
# after the promote returned must all be by the new champion.
ADOPTED_WITHIN_S = 5.0


@dataclass
class Answer:
    started: float
    kind: str
    game: str
    home_version: str
    total_version: str
    p_home: float
    p_over: float
    cache_hit: bool


@dataclass
class Load:
    service: RunningService
    games: list[str]
    answers: list[Answer] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    running: bool = True

    async def client(self, seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(
            base_url=self.service.url, headers=self.service.headers, timeout=60
        ) as client:
            while self.running:
                kind = rng.choice(["predict", "batch", "get"])
                started = time.monotonic()
                if kind == "predict":
                    resp = await client.post(
                        "/api/v1/predict", json={"game_id": rng.choice(self.games)}
                    )
                elif kind == "batch":
                    resp = await client.post("/api/v1/predict/batch", json={"game_ids": self.games})
                else:
                    resp = await client.get(f"/api/v1/predict/{rng.choice(self.games)}")
                self.statuses.append(resp.status_code)
                if resp.status_code != 200:
                    continue
                body = resp.json()
                for p in body if isinstance(body, list) else [body]:
                    self.answers.append(Answer(
                        started, kind, p["game_id"], p["models"]["home_win"]["model_version"],
                        p["models"]["total_over"]["model_version"], p["home_ml_probability"],
                        p["total_over_probability"], p["cache_hit"],
                    ))  # fmt: skip


async def vectors(service: RunningService, dsn: str, games: list[str]) -> dict[str, np.ndarray]:
    """Each game's vector (the clock is pinned: it is the same in every answer), from a log
    record read back through the API."""
    from storage.postgres import connect

    conn = await connect(dsn)
    try:
        out = {}
        async with httpx.AsyncClient(base_url=service.url, headers=service.headers) as client:
            for game in games:
                for _ in range(100):
                    rid = await conn.fetchval(
                        "SELECT record_id FROM prediction_log l WHERE game_id = $1 AND EXISTS "
                        "(SELECT 1 FROM feature_vectors v WHERE v.feature_hash = l.feature_hash) "
                        "ORDER BY predicted_at DESC LIMIT 1", game)  # fmt: skip
                    if rid is not None:
                        break
                    await asyncio.sleep(0.1)
                resp = await client.get(f"/api/v1/predictions/records/{rid}")
                assert resp.status_code == 200, (game, rid, resp.text)
                rec = resp.json()
                out[game] = np.frombuffer(base64.b64decode(rec["feature_vector"]), dtype="<f8")
        return out
    finally:
        await conn.close()


def expected(name: str, version: str, vecs: dict[str, np.ndarray]) -> dict[str, float]:
    """LightGBM's own Booster.predict for a version (not the serving path's C call)."""
    model = registry.bento_version(name, version)
    assert model is not None, (name, version)
    booster = registry.load_booster(model)
    return {g: float(booster.predict(v.reshape(1, -1))[0]) for g, v in vecs.items()}


@pytest.mark.parametrize("inference", ["service", "local"])
@pytest.mark.usefixtures("bento_store_restored")
async def test_promote_and_rollback_under_load(
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
        grid={"num_leaves": [3], "min_data_in_leaf": [400]}, max_rounds=20,
    )  # fmt: skip
    new = newer["model_version"]
    svc = start_service(
        settings, ingested, tmp_path, FIRSTPITCH_INFERENCE=inference, FIRSTPITCH_API_WORKERS="2",
        FIRSTPITCH_CHAMPION_POLL_S=str(POLL_S), **UNHURRIED,
    )  # fmt: skip
    load = Load(svc, (await today(svc.url, svc.headers))[:4])
    try:
        tasks = [asyncio.create_task(load.client(i)) for i in range(6)]
        await asyncio.sleep(3)
        t_promoting = time.monotonic()
        promoted = await asyncio.to_thread(run, settings, "promote", home, new, "--json")
        t_promoted = time.monotonic()
        assert promoted.returncode == 0, promoted.stderr
        out = json.loads(promoted.stdout)
        assert out["champions"]["home_win"]["version"] == new
        assert out["champions"]["total_over"]["version"] == total_version
        assert registry.champion_version(uri, artifacts, home) == new
        await asyncio.sleep(ADOPTED_WITHIN_S + 3)
        t_rolling = time.monotonic()
        rolled = await asyncio.to_thread(run, settings, "promote", home, old, "--json")
        t_rolled = time.monotonic()
        assert rolled.returncode == 0, rolled.stderr
        await asyncio.sleep(ADOPTED_WITHIN_S + 3)
        load.running = False
        await asyncio.gather(*tasks)
        vecs = await vectors(svc, ingested, load.games)
    finally:
        load.running = False
        svc.stop()
        client = await redis_store.connect(settings.redis_url.get_secret_value())  # type: ignore[union-attr]
        await client.delete(champion_state.KEY)  # the session's other services: as they were
        await client.aclose()
        registry.promote(uri, artifacts, home, old)

    assert load.statuses and set(load.statuses) == {200}, sorted(set(load.statuses))
    by_version = {v: expected(home, v, vecs) for v in (old, new)}
    over = expected(total, total_version, vecs)
    assert any(by_version[old][g] != by_version[new][g] for g in load.games)  # the swap shows
    for a in load.answers:  # every answer is by the versions it names
        assert a.home_version in (old, new) and a.total_version == total_version, a
        assert abs(a.p_home - by_version[a.home_version][a.game]) < 1e-12, a
        assert abs(a.p_over - over[a.game]) < 1e-12, a

    def version_of(start: float, end: float) -> set[str]:
        # freshly computed or cached answers (the GET fallback to the log returns the
        # latest logged record, which names its own versions)
        return {a.home_version for a in load.answers
                if start <= a.started < end and (a.kind != "get" or a.cache_hit)}  # fmt: skip

    # (the champion set is announced before the command exits: answers between its start
    # and its end may be by either version)
    assert version_of(0, t_promoting) == {old}
    assert version_of(t_promoted + ADOPTED_WITHIN_S, t_rolling) == {new}
    assert version_of(t_rolled + ADOPTED_WITHIN_S, float("inf")) == {old}
    cached_new = [a for a in load.answers if a.cache_hit and a.home_version == new]
    assert cached_new  # the new champion's answers were cached and served from the cache

    def started(version: str, start: float, end: float) -> list[float]:
        return [a.started - start for a in load.answers if a.home_version == version
                and start <= a.started < end and (a.kind != "get" or a.cache_hit)]  # fmt: skip

    took = t_promoted - t_promoting
    first_new = min(started(new, t_promoting, t_rolling))
    last_old = max(started(old, t_promoting, t_rolling), default=0.0)
    print(f"swap: promote took {took:.2f} s; from its start the first answer by the new "
          f"champion began at {first_new:.2f} s, the last by the old at {last_old:.2f} s; "
          f"{len(load.answers)} answers, {len(load.statuses)} requests, all 200")  # fmt: skip


def test_promote_refuses_what_it_cannot_serve(
    settings: Settings, champions: dict[str, Any]
) -> None:
    home = REGISTERED_NAMES["home_win"]
    for args, message in (
        (("nope", "1"), "unknown model"),
        ((home, "abc"), "registry version number"),
        ((home, "999"), "has no version 999"),
    ):
        done = run(settings, "promote", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
