"""The Redis feature store against a real server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import asyncpg
import numpy as np
import pytest
import redis.asyncio as aioredis

from features.online import compute_vectors
from features.store import Decoded, FeatureStore, FeatureVersionMismatch, encode, key
from storage.postgres import connect

IDS = ["TBA201907040", "TOR201907040", "CHN202104010"]


@pytest.fixture
async def vectors(ingested: str) -> dict:
    conn: asyncpg.Connection = await connect(ingested)
    try:
        return await compute_vectors(conn, IDS, cutoff_minutes=60)
    finally:
        await conn.close()


@pytest.fixture
async def stored(redis_client: aioredis.Redis, vectors: dict) -> tuple[FeatureStore, str]:
    """A store holding ``vectors``, and their feature version."""
    store = FeatureStore(redis_client, ttl_s=600)
    assert await store.write(vectors.values()) == len(IDS)
    return store, vectors[IDS[0]].feature_version


async def test_round_trip_is_bit_for_bit(
    redis_client: aioredis.Redis, vectors: dict, stored: tuple[FeatureStore, str]
) -> None:
    store, version = stored
    found, refused = await store.read([*IDS, "MISSING00000"], version)
    assert refused == [] and set(found) == set(IDS)
    for game_id in IDS:
        assert np.array_equal(found[game_id].values, vectors[game_id].values, equal_nan=True)
        assert found[game_id].as_of == vectors[game_id].as_of
        assert found[game_id].cutoff == vectors[game_id].cutoff
        assert found[game_id].meta == vectors[game_id].meta
    ttl = await redis_client.ttl(key(vectors[IDS[0]].feature_version, IDS[0]))
    assert 0 < ttl <= 600


async def test_reads_many_games_in_one_round_trip(
    redis_client: aioredis.Redis, stored: tuple[FeatureStore, str]
) -> None:
    store, version = stored
    before = (await redis_client.info("commandstats")).get("cmdstat_mget", {}).get("calls", 0)
    await store.read(IDS, version)
    after = (await redis_client.info("commandstats"))["cmdstat_mget"]["calls"]
    assert after - before == 1


async def test_vector_past_its_cutoff_is_refused(
    redis_client: aioredis.Redis, vectors: dict
) -> None:
    leaky = replace(vectors[IDS[0]], as_of=vectors[IDS[0]].cutoff + timedelta(minutes=1))
    store = FeatureStore(redis_client, ttl_s=600)
    await store.write([leaky, vectors[IDS[1]]])
    found, refused = await store.read(IDS[:2], leaky.feature_version)
    assert list(found) == [IDS[1]]
    assert [r.game_id for r in refused] == [IDS[0]]


async def test_vector_of_another_feature_version_is_refused(
    redis_client: aioredis.Redis, vectors: dict
) -> None:
    other = replace(vectors[IDS[0]], feature_version="fs-0.0.0")
    current = vectors[IDS[0]].feature_version
    await redis_client.set(key(current, IDS[0]), encode(other))
    with pytest.raises(FeatureVersionMismatch, match=r"fs-0\.0\.0"):
        await FeatureStore(redis_client, ttl_s=600).read([IDS[0]], current)


async def test_a_vector_written_again_with_other_values_is_read_afresh(
    vectors: dict, stored: tuple[FeatureStore, str]
) -> None:
    store, version = stored
    first, _ = await store.read(IDS, version)
    again, _ = await store.read(IDS, version)
    assert all(again[g] is first[g] for g in IDS)  # the same bytes: decoded once
    with pytest.raises(ValueError):  # shared, so never changed in place
        first[IDS[0]].values[0] = 1.0
    moved = replace(vectors[IDS[0]], values=vectors[IDS[0]].values + 1.0)
    await store.write([moved])
    now, _ = await store.read(IDS, version)
    assert np.array_equal(now[IDS[0]].values, moved.values, equal_nan=True)
    assert now[IDS[1]] is first[IDS[1]]


def test_decoded_vectors_are_bounded(vectors: dict) -> None:
    decoded = Decoded(capacity=2)
    raws = [encode(v) for v in vectors.values()]
    for raw in raws:
        assert decoded(raw).game_id in IDS
    assert len(decoded._held) <= 2
