"""Fill the Redis feature store for a date or a season."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Protocol

from features.online import compute_vectors
from features.source import load_games
from features.store import FeatureStore
from storage import postgres, redis


class MaterializeConfig(Protocol):
    """What materializing reads of the settings (``firstpitch.settings.Settings`` is one)."""

    @property
    def cutoff_minutes(self) -> int: ...
    @property
    def now(self) -> datetime | None: ...
    @property
    def feature_ttl_s(self) -> int: ...


class Stores(Protocol):
    """Where the games and the feature store are (``firstpitch.runtime.Endpoints`` is one)."""

    @property
    def postgres_dsn(self) -> str: ...
    @property
    def redis_url(self) -> str: ...


async def materialize(
    settings: MaterializeConfig, endpoints: Stores, *, on_date: date | None, season: int | None
) -> tuple[int, float]:
    """Compute the vectors of a day's or a season's games as of now and write them to the
    feature store; returns how many were written and the seconds it took."""
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
