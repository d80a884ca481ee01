"""Per-game feed locks against the session's real Redis."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from storage.game_locks import PREFIX, GameLocks


def _games(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"T{tag}{i}" for i in range(n)]


async def test_a_batch_waits_for_any_game_it_shares_then_goes(redis_client: aioredis.Redis) -> None:
    locks = GameLocks(redis_client, ttl_s=10)
    a, b, c = _games(3)
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with locks.held([a, b], wait_s=5) as taken:
            assert taken
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with locks.held([c, b], wait_s=5) as taken:  # shares b, in another order
            assert taken
            order.append("second in")

    async def unrelated() -> None:
        async with locks.held([c], wait_s=5) as taken:
            assert taken
            order.append("unrelated in")

    one = asyncio.create_task(first())
    await asyncio.sleep(0.1)
    assert order == ["first in"]
    two = asyncio.create_task(second())
    await asyncio.sleep(0.1)
    assert order == ["first in"]  # b is held: second waits, and takes none of its games
    await asyncio.wait_for(unrelated(), 2)  # ... so c is free
    release.set()
    await asyncio.wait_for(asyncio.gather(one, two), 5)
    assert order == ["first in", "unrelated in", "first out", "second in"]
    assert await redis_client.exists(*(PREFIX + g for g in (a, b, c))) == 0  # all released


async def test_a_lock_expires_and_only_its_holder_releases_it(
    redis_client: aioredis.Redis,
) -> None:
    (game,) = _games(1)
    key = PREFIX + game
    second_in, first_out = asyncio.Event(), asyncio.Event()

    async def second() -> None:
        async with GameLocks(redis_client, ttl_s=10).held([game], wait_s=1) as taken:
            assert taken
            second_in.set()
            await first_out.wait()
            assert await redis_client.exists(key) == 1  # the first holder left it alone

    async with GameLocks(redis_client, ttl_s=0.2).held([game], wait_s=1) as taken:
        assert taken
        await asyncio.sleep(0.3)  # expired: a holder that died frees its games
        task = asyncio.create_task(second())
        await asyncio.wait_for(second_in.wait(), 2)
    first_out.set()  # the first left, its release finding another's token
    await asyncio.wait_for(task, 2)
    assert await redis_client.exists(key) == 0


async def test_waiting_is_bounded_and_redis_down_lets_the_batch_go(
    redis_client: aioredis.Redis,
) -> None:
    (game,) = _games(1)
    locks = GameLocks(redis_client, ttl_s=10)
    async with locks.held([game], wait_s=1) as taken:
        assert taken
        async with locks.held([game], wait_s=0.1) as late:
            assert not late  # went on without it after 0.1 s
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        async with GameLocks(dead, ttl_s=10).held([game], wait_s=1) as taken:
            assert not taken
    finally:
        await dead.aclose()
