"""Benchmark: latency of the full prediction path through real HTTP (p50, p99, req/s).

Scenarios, for the model service with its adaptive batcher on, then off, then with the
models in the API process, without and with API keys (four service runs; "local_auth" adds
the key check and the per-key rate limit in Redis to every request):
  single-miss   one game per request, prediction cache cold (feature vector in Redis)
  single-hit    one game per request, prediction cached
  batch10/50    10 or 50 games per request, prediction cache cold
  single-hit-c8 single-hit with 8 concurrent clients (throughput, where batching matters)

Usage: .venv/bin/python loadtests/bench_service.py [--requests 400] [--out reports/bench.json]
Runs on the configured (or embedded) servers with the clock pinned to 2021-10-04, after
the 2021 regular season, so every 2021 game is predictable from its cutoff vector.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from loadtests.harness.reports import machine, write_json
from loadtests.harness.stack import (
    Stack,
    flush_predictions,
    launch_service,
    load_key,
    open_stack,
    season_games,
    season_ready,
    service_ready,
    stop_service,
)
from loadtests.harness.stats import throughput as summarize
from storage.embedded import free_port

PINNED = "2021-10-04T12:00:00Z"


async def run_scenarios(
    base: str, redis_url: str, games: list[str], n: int, headers: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:

        async def timed(path: str, body: dict[str, Any]) -> float:
            started = time.perf_counter()
            resp = await client.post(path, json=body)
            elapsed = time.perf_counter() - started
            if resp.status_code != 200:
                raise RuntimeError(f"{path} answered {resp.status_code}: {resp.text[:200]}")
            return elapsed

        for _ in range(20):  # warm-up: connections, model service, JIT-ish caches
            await timed("/api/v1/predict", {"game_id": games[0]})
        flush_predictions(redis_url)
        picks = games[:n]
        t0 = time.perf_counter()
        samples = [await timed("/api/v1/predict", {"game_id": g}) for g in picks]
        out["single-miss"] = summarize(samples, time.perf_counter() - t0, len(samples))
        t0 = time.perf_counter()
        samples = [await timed("/api/v1/predict", {"game_id": g}) for g in picks]
        out["single-hit"] = summarize(samples, time.perf_counter() - t0, len(samples))
        for size in (10, 50):
            flush_predictions(redis_url)
            chunks = [games[i : i + size] for i in range(0, len(games) - size, size)][: n // 4]
            t0 = time.perf_counter()
            samples = [await timed("/api/v1/predict/batch", {"game_ids": c}) for c in chunks]
            out[f"batch{size}-miss"] = summarize(samples, time.perf_counter() - t0,
                                                 len(chunks) * size)  # fmt: skip
        flush_predictions(redis_url)
        queue = list(picks)

        async def worker(results: list[float]) -> None:
            while queue:
                game = queue.pop()
                results.append(await timed("/api/v1/predict", {"game_id": game}))

        results: list[float] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(results) for _ in range(8)))
        out["single-miss-c8"] = summarize(results, time.perf_counter() - t0, len(results))
    return out


async def prepare(stack: Stack) -> tuple[list[str], str]:
    await season_ready(stack, 2021, print)
    dsn = stack.endpoints.postgres_dsn
    return await season_games(dsn, 2021), await load_key(dsn, "bench", ["predictions"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("reports/bench_service.json"))
    args = parser.parse_args()
    stack = open_stack(PINNED)
    games, token = asyncio.run(prepare(stack))
    report: dict[str, Any] = {"machine": machine(), "pinned_now": PINNED}
    configs = {  # the model service with its batcher on and off, and models in process
        "service_batching_on": {"FIRSTPITCH_INFERENCE": "service", "FIRSTPITCH_BATCHING": "true"},
        "service_batching_off": {"FIRSTPITCH_INFERENCE": "service", "FIRSTPITCH_BATCHING": "false"},
        "local": {"FIRSTPITCH_INFERENCE": "local"},
        "local_auth": {"FIRSTPITCH_INFERENCE": "local", "FIRSTPITCH_AUTH_ENABLED": "true"},
    }
    for name, env in configs.items():
        port = free_port()
        # With keys on, limits count games: the bench key must not be refused for a burst.
        env = {"FIRSTPITCH_NOW": PINNED, "FIRSTPITCH_AUTH_ENABLED": "false",
               "FIRSTPITCH_RATE_LIMIT_BURST": "1000000"} | env  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if name == "local_auth" else {}
        proc = launch_service(stack, port, None, **env)
        try:
            if not service_ready(f"http://127.0.0.1:{port}", proc):
                raise SystemExit("the service did not become ready")
            report[name] = asyncio.run(
                run_scenarios(f"http://127.0.0.1:{port}", stack.endpoints.redis_url, games,
                              args.requests, headers))  # fmt: skip
        finally:
            stop_service(proc)
    write_json(args.out, report)
    print("\n| scenario | batching | p50 ms | p99 ms | req/s | rows/s |\n|---|---|---|---|---|---|")
    for mode in configs:
        for name, m in report[mode].items():
            print(
                f"| {name} | {mode} | {m['p50_ms']} | {m['p99_ms']} | {m['req_per_s']} | "
                f"{m['rows_per_s']} |"
            )


if __name__ == "__main__":
    main()
