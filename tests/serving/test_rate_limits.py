"""Rate limits count games, in Redis and in the per-worker stand-in used while it is away."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from firstpitch.serving.access import GCRA, RateLimiter
from storage.api_keys import ApiKey


def _key(key_id: str, per_minute: int) -> ApiKey:
    return ApiKey(key_id, "t", frozenset({"predictions"}), per_minute, datetime.now(UTC), None)


async def _admitted(limiter: RateLimiter, key: ApiKey, batches: list[int]) -> list[bool]:
    out = []
    for games in batches:
        first = await limiter.check(key)  # what access control charges at the door
        rest = await limiter.check(key, games - 1, charged=1) if first.allowed else first
        out.append(first.allowed and rest.allowed)
    return out


async def test_batches_are_charged_by_games(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client, per_minute=600, burst=60)
    key = _key("a1b2c3d4e5f6", per_minute=30)  # a burst of 30 games
    await redis_client.delete("fp:rl:a1b2c3d4e5f6")
    assert await _admitted(limiter, key, [10, 10, 10, 10, 1]) == [True] * 3 + [False] * 2
    refused = await limiter.check(key)
    assert not refused.allowed and refused.retry_after_s >= 1


async def test_a_batch_larger_than_the_burst_needs_it_whole(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client, per_minute=600, burst=60)
    key = _key("0f0f0f0f0f0f", per_minute=30)
    await redis_client.delete("fp:rl:0f0f0f0f0f0f")
    assert await _admitted(limiter, key, [50, 1]) == [True, False]  # then it owes 20 games
    await redis_client.delete("fp:rl:0f0f0f0f0f0f")
    assert await _admitted(limiter, key, [1, 50]) == [True, False]  # 29 left: not enough


async def test_per_worker_limits_while_redis_is_away() -> None:
    gone = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limiter = RateLimiter(gone, per_minute=600, burst=60, workers=2)
    key = _key("abcdefabcdef", per_minute=12)  # per worker: 6 a minute, a burst of 6 games
    try:
        assert await _admitted(limiter, key, [3, 3, 1]) == [True, True, False]
        assert not (await limiter.check(key)).allowed
    finally:
        await gone.aclose()


async def test_a_key_at_its_limit_stays_there_when_redis_goes(
    redis_client: aioredis.Redis,
) -> None:
    limiter = RateLimiter(redis_client, per_minute=600, burst=60)
    key = _key("feedfacecafe", per_minute=30)
    await redis_client.delete("fp:rl:feedfacecafe")
    assert await _admitted(limiter, key, [30, 1]) == [True, False]
    gone = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    try:
        limiter.script = gone.register_script(GCRA)  # Redis stops answering
        assert not (await limiter.check(key)).allowed
    finally:
        await gone.aclose()
