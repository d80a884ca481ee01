"""Fill the Redis feature store for a date or a season."""

from __future__ import annotations

import time
from datetime import date

from features.online import compute_vectors
from features.source import load_games
from features.store import FeatureStore
from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from storage import postgres, redis


async def materialize(
    settings: Settings, endpoints: Endpoints, *, on_date: date | None, season: int | None
) -> tuple[int, float]:
    started = time.perf_counter()
    conn = await postgres.connect(endpoints.postgres_dsn)
    client = await redis.connect(endpoints.redis_url)
    try:
        games = await load_games(conn, on_date=on_date, season=season)
        ids = games["game_id"].to_list()
        if not ids:
            return 0, time.perf_counter() - started
        vectors = await compute_vectors(
            conn, ids, cutoff_minutes=settings.cutoff_minutes, now=settings.now
        )
        written = await FeatureStore(client, settings.feature_ttl_s).write(vectors.values())
        return written, time.perf_counter() - started
    finally:
        await conn.close()
        await client.aclose()
