"""``features/materialize.py`` against the real servers: a day's vectors reach the feature
store as computed from the database, with the cutoff, clock and TTL of the configuration it
is given (any object with those fields; ``Settings`` is the one the commands pass)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import redis.asyncio as aioredis

from features.materialize import materialize
from features.online import compute_vectors
from features.store import FeatureStore, key
from firstpitch.runtime import Endpoints
from storage.postgres import connect

DAY = date(2021, 7, 4)


@dataclass(frozen=True)
class Config:
    cutoff_minutes: int
    now: datetime | None
    feature_ttl_s: int


async def test_a_days_vectors_are_written_as_computed(
    ingested: str, redis_client: aioredis.Redis, servers: tuple[str, str]
) -> None:
    config = Config(cutoff_minutes=90, now=datetime(2021, 7, 4, 12, tzinfo=UTC), feature_ttl_s=900)
    written, elapsed = await materialize(
        config, Endpoints(ingested, servers[1]), on_date=DAY, season=None
    )
    conn = await connect(ingested)
    try:
        ids = [
            r["game_id"]
            for r in await conn.fetch("SELECT game_id FROM games WHERE game_date = $1", DAY)
        ]
        expected = await compute_vectors(conn, ids, cutoff_minutes=90, now=config.now)
        unpinned = await compute_vectors(conn, ids, cutoff_minutes=90)
    finally:
        await conn.close()
    assert written == len(ids) == 16 and elapsed > 0
    version = next(iter(expected.values())).feature_version
    found, refused = await FeatureStore(redis_client, ttl_s=1).read(ids, version)
    assert refused == [] and set(found) == set(ids)
    for game_id, vector in expected.items():
        stored = found[game_id]
        assert np.array_equal(stored.values, vector.values, equal_nan=True)
        assert stored.cutoff == vector.meta.scheduled_start - timedelta(minutes=90)
        assert stored.as_of == vector.as_of <= min(stored.cutoff, config.now)
    # the pinned clock mattered: without it some games know facts from after noon
    assert any(unpinned[g].as_of > config.now for g in ids)
    ttl = await redis_client.ttl(key(version, ids[0]))
    assert 800 < ttl <= 900


async def test_a_day_without_games_writes_nothing(
    ingested: str, redis_client: aioredis.Redis, servers: tuple[str, str]
) -> None:
    config = Config(cutoff_minutes=60, now=None, feature_ttl_s=900)
    written, _ = await materialize(
        config, Endpoints(ingested, servers[1]), on_date=date(2021, 1, 15), season=None
    )
    assert written == 0
    assert await redis_client.dbsize() == 0
