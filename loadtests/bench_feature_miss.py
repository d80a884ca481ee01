"""Benchmark: the cost of a feature-store miss, before and after the incremental state.

A miss computes a game's vector from PostgreSQL. The peer is the full recomputation
(``features.online.compute_vectors``: every timeline from 2005 on); the incremental path is
``features.live.LiveFeatures.vectors`` (timelines held in memory, one change query, the game's
facts in one statement, as-of lookups on numpy columns), and beside it the same state through
the Polars ``features_at`` (``LiveFeatures.frame_vectors``, the path before the lookups).
All run in the same process against the same database, alternating, for random 2021 games
as of their cutoff. Every vector is checked equal to the
peer's, bit for bit. Separately, the cost of folding one new result into the state.

Usage: .venv/bin/python loadtests/bench_feature_miss.py [--misses 200] [--peer-misses 40]
Uses the configured (or embedded) servers; ingests if the database is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

import numpy as np
import polars as pl

from features.live import LiveFeatures
from features.online import compute_vectors
from features.source import load_changes
from features.state import FeatureState
from loadtests.harness.stack import ensure_ingested, open_stack
from loadtests.harness.stats import percentiles_ms as _summary
from storage import postgres


def _folds(games: pl.DataFrame, results: pl.DataFrame, held: int) -> list[float]:
    """The last ``held`` results (by known time) arrive one at a time into a state built
    without them: the cost of folding one result in (``FeatureState.apply``)."""
    order = results.sort("known_at", "game_id")
    state = FeatureState.build(games, order.head(order.height - held), 0)
    samples = []
    for i in range(order.height - held, order.height):
        t0 = time.perf_counter()
        folded = state.apply(games, order.slice(i, 1), 0)
        samples.append((time.perf_counter() - t0) * 1000)
        assert folded is not None
        state = folded
    return samples


async def main(misses: int, peer_misses: int) -> dict[str, Any]:
    stack = open_stack()
    settings, endpoints = stack.settings, stack.endpoints
    await ensure_ingested(stack)
    conn = await postgres.connect(endpoints.postgres_dsn)
    await postgres.migrate(conn)
    ids = [r["game_id"] for r in await conn.fetch("SELECT game_id FROM games WHERE season = 2021")]
    rng = random.Random(11)
    live = LiveFeatures(settings.cutoff_minutes)
    started = time.perf_counter()
    await live.state(conn)
    build_s = time.perf_counter() - started
    full, incremental, polars = [], [], []
    for i in range(misses):
        game = rng.choice(ids)
        if i < peer_misses:
            t0 = time.perf_counter()
            peer = await compute_vectors(conn, [game], cutoff_minutes=settings.cutoff_minutes)
            full.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        mine = await live.vectors(conn, [game], now=None)
        incremental.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        framed = await live.frame_vectors(conn, [game], now=None)
        polars.append((time.perf_counter() - t0) * 1000)
        assert np.array_equal(mine[game].values, framed[game].values, equal_nan=True), game
        if i < peer_misses:
            assert np.array_equal(mine[game].values, peer[game].values, equal_nan=True), game
    games, results, _ = await load_changes(conn, 0)
    folding = _folds(games, results, max(10, misses // 4))
    await conn.close()
    peer_s, mine_s = _summary(full), _summary(incremental)
    return {
        "state_build_s": round(build_s, 3),
        "full_recompute": peer_s,
        "incremental": mine_s,
        "incremental_polars": _summary(polars),
        "fold_one_result": _summary(folding),
        "speedup_p50": round(peer_s["p50_ms"] / mine_s["p50_ms"], 1),
        "speedup_p99": round(peer_s["p99_ms"] / mine_s["p99_ms"], 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--peer-misses", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.misses, args.peer_misses))))
