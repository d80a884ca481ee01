"""Benchmark: what each way in costs for the same cached prediction, through real HTTP.

One game, predicted once first so every timed call is a cache hit (the door's own cost, not
the model's), called in turns — REST ``POST /api/v1/predict`` with httpx, the BentoML-native
``POST /api/v1/bento/predict`` with httpx, the typed client's ``predict`` and BentoML's
``SyncHTTPClient.predict`` — so every door sees the same machine load. Reports p50/p99 per
door and each p50 over REST's.

Usage, against a running service with a key whose rate limit the run cannot reach:
  .venv/bin/firstpitch keys create --name bench --scope predictions --rate-limit 100000000
  FIRSTPITCH_API_KEY=fpk_... .venv/bin/python loadtests/bench_doors.py \
      --url http://127.0.0.1:3000 [--requests 400] [--game CIN202107040] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bentoml
import httpx
import numpy as np

from firstpitch.client import FirstPitchClient


def doors(url: str, key: str, game: str) -> tuple[dict[str, Callable[[], Any]], list[Any]]:
    auth = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=url, headers=auth, timeout=30)
    typed = FirstPitchClient(url, api_key=key, timeout=30)
    bento = bentoml.SyncHTTPClient(url, token=key, timeout=30)
    body = {"game_id": game}

    def rest() -> Any:
        resp = http.post("/api/v1/predict", json=body)
        resp.raise_for_status()
        return resp.json()

    def bento_raw() -> Any:
        resp = http.post("/api/v1/bento/predict", json=body)
        resp.raise_for_status()
        return resp.json()

    calls = {
        "rest_httpx": rest,
        "bento_httpx": bento_raw,
        "typed_client": lambda: typed.predict(game),
        "bentoml_client": lambda: bento.predict(game_id=game),
    }
    return calls, [http, typed, bento]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--game", default="CIN202107040")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    calls, clients = doors(args.url, os.environ["FIRSTPITCH_API_KEY"], args.game)
    try:
        for call in calls.values():  # the cache entry, connections, BentoML's schema
            call()
        timings: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.requests):
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
    finally:
        for client in clients:
            client.close()
    rest_p50 = float(np.percentile(timings["rest_httpx"], 50))
    summary: dict[str, Any] = {"url": args.url, "requests_per_door": args.requests, "doors": {}}
    for name, ms in timings.items():
        p50, p99 = (float(np.percentile(ms, q)) for q in (50, 99))
        summary["doors"][name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                                  "p50_over_rest": round(p50 / rest_p50, 2)}  # fmt: skip
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
