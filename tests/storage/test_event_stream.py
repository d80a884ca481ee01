"""The stream and its leases against the session's real Redis."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from storage.event_stream import EventStream, StreamLeases, parse_id


def _stream(client: aioredis.Redis, max_events: int = 1000) -> EventStream:
    return EventStream(client, f"t:events:{uuid.uuid4().hex[:8]}", max_events, 3600)


async def add(stream: EventStream, n: int) -> list[str]:
    pipe = stream.client.pipeline(transaction=True)
    for i in range(n):
        stream.stage(pipe, {"t": "odds", "i": str(i)})
    replies = await pipe.execute()
    return [r.decode() for r in replies[::2]]  # each append is an XADD and an XTRIM


async def test_ranges_reads_and_ids_follow_the_order_of_appends(
    redis_client: aioredis.Redis,
) -> None:
    stream = _stream(redis_client)
    assert await stream.last_id() == "0-0"
    ids = await add(stream, 5)
    assert [parse_id(i) for i in ids] == sorted(parse_id(i) for i in ids)
    assert await stream.last_id() == ids[-1]
    assert [e.id for e in await stream.range_after(ids[1], 10)] == ids[2:]
    assert [e.id for e in await stream.range_after(ids[1], 2)] == ids[2:4]
    assert [e.fields[b"i"] for e in await stream.read_after(ids[2], 10, 10)] == [b"3", b"4"]
    assert await stream.read_after(ids[-1], 50, 10) == []  # waited 50 ms for nothing


async def test_a_resume_older_than_what_is_kept_is_missed(redis_client: aioredis.Redis) -> None:
    stream = _stream(redis_client)
    ids = await add(stream, 6)
    assert not await stream.missed_after("0-0")  # nothing trimmed: from the start is whole
    assert not await stream.missed_after(ids[0])
    await redis_client.xtrim(stream.key, maxlen=2, approximate=False)
    assert await stream.missed_after(ids[0])  # ids[1..3] are gone
    assert await stream.missed_after("0-0")
    assert not await stream.missed_after(ids[4]) and not await stream.missed_after(ids[5])
    assert await stream.missed_after("99999999999999-0")  # not an id of this stream
    assert await _stream(redis_client).missed_after(ids[0])  # no such stream at all
    assert not await _stream(redis_client).missed_after("0-0")
    fresh = _stream(redis_client)
    await add(fresh, 1)
    assert await fresh.missed_after(ids[0])  # an id this stream never held (recreated empty)


async def test_retention_by_count_bounds_the_stream(redis_client: aioredis.Redis) -> None:
    stream = _stream(redis_client, max_events=100)
    await add(stream, 1000)
    # Approximate trimming drops whole nodes (100 entries by default): a bound, not exact.
    assert 100 <= await redis_client.xlen(stream.key) <= 200


async def test_leases_bound_open_streams_per_key_and_expire(redis_client: aioredis.Redis) -> None:
    leases = StreamLeases(redis_client, f"t:leases:{uuid.uuid4().hex[:8]}", lease_ms=300)
    held = [await leases.acquire("k1", 2) for _ in range(2)]
    assert all(held) and await leases.acquire("k1", 2) is None
    assert await leases.acquire("k2", 2) is not None  # another key has its own
    await leases.release("k1", held[0])  # type: ignore[arg-type]
    assert await leases.acquire("k1", 2) is not None
    await asyncio.sleep(0.4)  # a crashed worker's leases run out
    assert await leases.acquire("k1", 2) is not None
    renewed = await leases.acquire("k3", 1)
    for _ in range(4):
        await asyncio.sleep(0.15)
        await leases.renew("k3", renewed)  # type: ignore[arg-type]
    assert await leases.acquire("k3", 1) is None  # kept alive past its first lease
