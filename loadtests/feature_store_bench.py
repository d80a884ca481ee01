"""Benchmark: Redis feature-store read latency for 1 and 50 vectors (p50, p99).

Usage: .venv/bin/python loadtests/feature_store_bench.py [--reads 2000]
Uses the configured (or embedded) servers; ingests and materializes 2021 if needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from features.definitions import FEATURE_VERSION
from features.materialize import materialize
from features.store import FeatureStore
from loadtests.harness.stack import ensure_ingested, open_stack
from loadtests.harness.stats import percentiles_ms
from storage import postgres, redis


async def main(reads: int) -> dict[str, object]:
    stack = open_stack()
    settings, endpoints = stack.settings, stack.endpoints
    await ensure_ingested(stack)
    await materialize(settings, endpoints, on_date=None, season=2021)
    conn = await postgres.connect(endpoints.postgres_dsn)
    ids = [r["game_id"] for r in await conn.fetch("SELECT game_id FROM games WHERE season = 2021")]
    await conn.close()
    client = await redis.connect(endpoints.redis_url)
    store = FeatureStore(client, settings.feature_ttl_s)
    out: dict[str, object] = {"reads": reads}
    for batch in (1, 50):
        samples = []
        for _ in range(reads):
            pick = random.sample(ids, batch)
            started = time.perf_counter()
            found, _ = await store.read(pick, FEATURE_VERSION)
            samples.append((time.perf_counter() - started) * 1000)
            assert len(found) == batch
        out[f"batch_{batch}"] = percentiles_ms(samples, nd=3, count=False)
    await client.aclose()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    print(json.dumps(asyncio.run(main(parser.parse_args().reads))))
