"""Locust scenarios for the firstpitch prediction API (run by loadtests/run_loadtest.py).

One user class per scenario, so each scenario is its own row in the stats (request name =
scenario name), plus a weighted "realistic mix" whose rows are named ``mix:<kind>``:

  single-miss   POST /api/v1/predict, a game not requested before in this run (prediction
                cache cold; its feature vector is in the store)
  single-hit    POST /api/v1/predict on a small set the runner predicted before the run
  batch10       POST /api/v1/predict/batch with 10 games
  batch50       POST /api/v1/predict/batch with 50 games (the API's maximum)
  get-cached    GET /api/v1/predict/{game_id} for games already predicted (the warmed set)
  today         GET /api/v1/predictions/today
  mix:*         MixUser: mostly reads of cached/today predictions, some misses and batches

Game ids come from the JSON file named by ``FIRSTPITCH_LOADTEST_GAMES``, written by the
runner: ``{"hit": [...], "miss": [...], "batch": [...]}`` (three disjoint pools; the runner
warms "hit"). A plain JSON list works too when locust is run by hand: first 20 = hit, the
rest alternately miss / batch, and nothing warmed. "miss" ids are handed out once each across
all users; "batch" ids are cut into consecutive chunks, cycling (cold on the first pass, cached
after: at benchmark load nearly every batch row is a cache hit; the runner prints the share,
and bench_service.py measures cold batches). Any non-200 answer, or a body that does not answer the request, is a failure.

Every prediction answer says whether it came from the cache (``cache_hit``). Those counts
per request name are written at the end of the run to ``FIRSTPITCH_LOADTEST_CACHE_REPORT``
(if set), so the runner can prove that "single-miss" really missed and "single-hit" hit.

Keep this file to locust + stdlib: importing the project (bentoml, ssl) into a process that
gevent has patched fails.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

HIT_COUNT = 20


def _think_time() -> tuple[float, float]:
    raw = os.environ.get("FIRSTPITCH_LOADTEST_WAIT", "0.05,0.25")
    low, high = (float(x) for x in raw.split(","))
    return low, high


def _load_pools() -> dict[str, list[str]]:
    path = os.environ.get("FIRSTPITCH_LOADTEST_GAMES")
    if not path:
        raise RuntimeError("set FIRSTPITCH_LOADTEST_GAMES to a JSON file of game ids")
    data = json.loads(Path(path).read_text())
    if isinstance(data, list):
        rest = data[HIT_COUNT:]
        data = {"hit": data[:HIT_COUNT], "miss": rest[0::2], "batch": rest[1::2]}
    pools = {k: [str(g) for g in data.get(k, [])] for k in ("hit", "miss", "batch")}
    if not pools["hit"] or not pools["miss"] or len(pools["batch"]) < 50:
        raise RuntimeError(
            f"{path}: need hit and miss ids and at least 50 batch ids, got "
            + ", ".join(f"{k}={len(v)}" for k, v in pools.items())
        )
    return pools


POOLS = _load_pools()
THINK = _think_time()
# gevent switches only on I/O, so these shared iterators are safe without locks.
_miss_ids = itertools.cycle(POOLS["miss"])  # wraps only when exhausted; the runner sees it
_hit_ids = itertools.cycle(POOLS["hit"])
_batch_ids = itertools.cycle(POOLS["batch"])
CACHE_COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: {"hit": 0, "miss": 0})


def _count(name: str, predictions: list[dict[str, Any]]) -> None:
    for p in predictions:
        CACHE_COUNTS[name]["hit" if p.get("cache_hit") else "miss"] += 1


@events.test_stop.add_listener
def _final_reports(environment: Any, **_kwargs: Any) -> None:
    """At the end (users stopped): the cache counts, and the final CSV stats.

    locust's own CSV writer refreshes its files once a second and not again at the end, so
    they can miss the last second of requests; rewrite them from the final stats (atomically,
    so the writer's later refreshes land on the replaced file).
    """
    path = os.environ.get("FIRSTPITCH_LOADTEST_CACHE_REPORT")
    if path:
        Path(path).write_text(json.dumps(CACHE_COUNTS, indent=2, sort_keys=True))
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (
        ("_stats.csv", writer.requests_csv),
        ("_failures.csv", writer.failures_csv),
    ):
        target = Path(prefix + suffix)
        tmp = target.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            write(csv.writer(f))
        tmp.replace(target)


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


class Api(HttpUser):
    """The requests, each checked; scenario classes below pick one, MixUser weighs them."""

    abstract = True
    wait_time = between(*THINK)

    def on_start(self) -> None:
        key = os.environ.get("FIRSTPITCH_API_KEY")
        if key:
            self.client.headers["Authorization"] = f"Bearer {key}"

    @staticmethod
    def _check_one(resp: Any, name: str, game_id: str) -> None:
        body = _json(resp)
        if resp.status_code != 200:
            resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
        elif not isinstance(body, dict) or body.get("game_id") != game_id:
            resp.failure(f"answer is not a prediction of {game_id}: {resp.text[:200]}")
        else:
            _count(name, [body])
            resp.success()

    def _predict_one(self, name: str, game_id: str) -> None:
        with self.client.post(
            "/api/v1/predict", json={"game_id": game_id}, name=name, catch_response=True
        ) as resp:
            self._check_one(resp, name, game_id)

    def _batch(self, name: str, size: int) -> None:
        ids = [next(_batch_ids) for _ in range(size)]
        with self.client.post(
            "/api/v1/predict/batch", json={"game_ids": ids}, name=name, catch_response=True
        ) as resp:
            body = _json(resp)
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            elif not isinstance(body, list) or [p.get("game_id") for p in body] != ids:
                resp.failure(f"answer does not match the {size} games asked: {resp.text[:200]}")
            else:
                _count(name, body)
                resp.success()

    def _get_cached(self, name: str) -> None:
        game_id = next(_hit_ids)
        with self.client.get(f"/api/v1/predict/{game_id}", name=name, catch_response=True) as resp:
            self._check_one(resp, name, game_id)

    def _today(self, name: str) -> None:
        with self.client.get("/api/v1/predictions/today", name=name, catch_response=True) as resp:
            body = _json(resp)
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            elif not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
                resp.failure(f"answer has no predictions list: {resp.text[:200]}")
            else:
                _count(name, body["predictions"])
                resp.success()


class SingleMiss(Api):
    @task
    def single_miss(self) -> None:
        self._predict_one("single-miss", next(_miss_ids))


class SingleHit(Api):
    @task
    def single_hit(self) -> None:
        self._predict_one("single-hit", next(_hit_ids))


class Batch10(Api):
    @task
    def batch10(self) -> None:
        self._batch("batch10", 10)


class Batch50(Api):
    @task
    def batch50(self) -> None:
        self._batch("batch50", 50)


class GetCached(Api):
    @task
    def get_cached(self) -> None:
        self._get_cached("get-cached")


class Today(Api):
    @task
    def today(self) -> None:
        self._today("today")


class MixUser(Api):
    """A client app: mostly reads of predictions made already, a few new games and batches."""

    @task(4)
    def mix_today(self) -> None:
        self._today("mix:today")

    @task(4)
    def mix_get_cached(self) -> None:
        self._get_cached("mix:get-cached")

    @task(4)
    def mix_single_hit(self) -> None:
        self._predict_one("mix:single-hit", next(_hit_ids))

    @task(2)
    def mix_single_miss(self) -> None:
        self._predict_one("mix:single-miss", next(_miss_ids))

    @task(1)
    def mix_batch10(self) -> None:
        self._batch("mix:batch10", 10)
