"""Per-game locks in Redis, so that what two feeders send about one game is written and
published in one order, whichever worker or replica takes each batch.

A feed batch holds the locks of every game it names from before its write until its events
are published: a second batch about one of them waits, then computes from facts that include
the first's, and publishes after it. All of a batch's locks are taken at once or none (one
script), so two batches naming the same games in any order cannot deadlock. Each lock
expires after ``ttl_s`` (a holder that died frees its games) and is released only by the
holder that took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable

import redis.asyncio as aioredis

from storage.redis import UNREACHABLE

log = logging.getLogger(__name__)
PREFIX = "fp:feed-lock:"
TAKE = """
for i, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then return 0 end
end
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 1
"""
RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key); n = n + 1 end
end
return n
"""
POLL_S = 0.002


class GameLocks:
    def __init__(self, redis: aioredis.Redis, ttl_s: float) -> None:
        self.redis, self.ttl_ms = redis, int(ttl_s * 1000)
        self._take = redis.register_script(TAKE)
        self._release = redis.register_script(RELEASE)

    @contextlib.asynccontextmanager
    async def held(self, game_ids: Iterable[str], wait_s: float) -> AsyncIterator[bool]:
        """Hold every game's lock; yields whether it was taken. Without Redis (or after
        ``wait_s``) the batch goes on unordered, as it would have to anyway: the write is
        the source of truth, and what it sets off needs Redis too."""
        keys = sorted({PREFIX + g for g in game_ids})
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait_s
        taken = False
        try:
            while not (taken := bool(await self._take(keys=keys, args=[token, self.ttl_ms]))):
                if time.monotonic() > deadline:
                    log.warning("feed batch went on without its games' locks after %.1f s", wait_s)
                    break
                await asyncio.sleep(POLL_S)
        except UNREACHABLE as exc:
            log.warning("feed batch went on without its games' locks: Redis: %s", exc)
        try:
            yield taken
        finally:
            if taken:
                with contextlib.suppress(*UNREACHABLE):
                    await self._release(keys=keys, args=[token])
