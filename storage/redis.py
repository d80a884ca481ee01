"""Redis (Valkey) client: connect with bounded retries, close cleanly."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)


async def connect(url: str, *, attempts: int = 10, max_connections: int = 64) -> aioredis.Redis:
    # A blocking pool: under a burst, callers wait (up to 5 s) for a free connection instead
    # of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=5,
    )
    client = aioredis.Redis(connection_pool=pool)
    for attempt in range(1, attempts + 1):
        try:
            await client.ping()
            return client
        except (RedisConnectionError, OSError) as exc:
            if attempt == attempts:
                await client.aclose()
                raise
            log.warning("redis not reachable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
