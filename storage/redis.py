"""Redis (Valkey) client: connect with bounded retries, fail fast while the server is down.

The serving client never hangs on a dead or stalled server: every operation has a timeout,
a command that failed to connect is retried once (a pooled connection may predate a
restart) but one that timed out is not (a stalled server would only make it wait twice),
and after a failed connect or a timed-out command the pool refuses at once for ``cooldown``
seconds instead of letting every request, and every later step of the same request, wait
for its own timeout. So a request meets a stalled Redis once, for at most the timeout. It
reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class FailFastPool(aioredis.BlockingConnectionPool):
    """A blocking pool that stops trying to connect for a moment after a connect failed or
    a command timed out (redis-py drops a connection whose command failed; one coming back
    disconnected is how the pool learns of it)."""

    def __init__(self, *args: Any, cooldown: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cooldown = cooldown
        self.down_until = 0.0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self.down_until:
            raise RedisConnectionError("Redis is unreachable (retrying shortly)")
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except (*UNREACHABLE, OSError):
            self.down_until = time.monotonic() + self.cooldown
            raise

    async def release(self, connection: Any) -> None:
        if not connection.is_connected:
            self.down_until = time.monotonic() + self.cooldown
        await super().release(connection)


async def connect(
    url: str,
    *,
    attempts: int = 10,
    max_connections: int = 64,
    timeout_s: float = 5.0,
    pool_wait_s: float = 5.0,
) -> aioredis.Redis:
    # Blocking: under a burst, callers queue (up to pool_wait_s) for a free connection instead
    # of failing with "Too many connections"; that wait is load, not an outage.
    pool = FailFastPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        cooldown=min(1.0, timeout_s),
    )
    client = aioredis.Redis(connection_pool=pool)
    for attempt in range(1, attempts + 1):
        try:
            await client.ping()
            return client
        except (*UNREACHABLE, OSError) as exc:
            if attempt == attempts:
                await client.aclose()
                raise
            log.warning("redis not reachable (attempt %d/%d): %s", attempt, attempts, exc)
            pool.down_until = 0.0
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
