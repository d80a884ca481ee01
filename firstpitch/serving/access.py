"""Who may call what, and how often: API keys (cached from Postgres) and per-key rate limits
(held in Redis, so they hold across workers and replicas).

Each worker keeps the table of active keys in memory and reloads it every
``auth_refresh_s`` (a revoked key stops working within that). A key id it does not hold is
looked up by itself (a key created a moment ago works at once), at most
``MISS_LOOKUPS_PER_S`` times a second, so made-up keys cannot flood Postgres. While Postgres
is unreachable the last table stays in force, so predictions keep being served.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from firstpitch.serving.metrics import metrics
from storage import api_keys
from storage.api_keys import ApiKey

log = logging.getLogger(__name__)
MISS_LOOKUPS_PER_S = 20
UNREACHABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class KeyRing:
    def __init__(self, pool: asyncpg.Pool, refresh_s: float, timeout_s: float = 2.0) -> None:
        self.pool, self.refresh_s, self.timeout_s = pool, refresh_s, timeout_s
        self.keys: dict[str, ApiKey] = {}
        self._window, self._lookups = 0.0, 0
        self._pending: dict[str, asyncio.Task[ApiKey | None]] = {}
        self._refreshing: asyncio.Task[bool] | None = None

    async def refresh(self) -> bool:
        """Reload the active keys; on failure keep the ones held (and say so)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._load())
        return await asyncio.shield(self._refreshing)

    async def _load(self) -> bool:
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn:
                self.keys = await api_keys.active(conn)
            return True
        except UNREACHABLE as exc:
            log.warning(
                "API keys not reloaded (%s); the %d held stay in force", exc, len(self.keys)
            )
            return False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    async def authenticate(self, token: str) -> ApiKey | None:
        parsed = api_keys.parse(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = self.keys.get(key_id) or await self._lookup(key_id)
        if key is None or not hmac.compare_digest(key.secret_sha256, api_keys.digest(secret)):
            return None
        return key

    async def _lookup(self, key_id: str) -> ApiKey | None:
        """One query per unknown key id at a time: concurrent requests share it."""
        task = self._pending.get(key_id)
        if task is None:
            task = asyncio.create_task(self._fetch(key_id))
            self._pending[key_id] = task
            task.add_done_callback(lambda _: self._pending.pop(key_id, None))
        return await asyncio.shield(task)

    async def _fetch(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._lookups = now, 0
        if self._lookups >= MISS_LOOKUPS_PER_S:
            return None
        self._lookups += 1
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn:
                key = await api_keys.get_active(conn, key_id)
        except UNREACHABLE:
            return None
        if key is not None:
            self.keys[key_id] = key
        return key


# Generic cell rate algorithm: one key per API key holding the theoretical arrival time
# (ms, Redis's clock, so every worker and replica agrees). Allows `burst` requests at once,
# then one per `interval`. Returns {allowed, ms to wait}.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return {0, math.ceil(wait)} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Per-key limits in Redis. If Redis cannot answer, requests are let through (the limit
    protects capacity; refusing everything while Redis is down would be the bigger outage)."""

    def __init__(self, client: aioredis.Redis, per_minute: int, burst: int) -> None:
        self.client, self.per_minute, self.burst = client, per_minute, burst
        self.script = client.register_script(GCRA)
        self._last_warning = 0.0

    async def check(self, key: ApiKey) -> Decision:
        rate = key.rate_limit_per_minute or self.per_minute
        interval = 60_000 / rate
        tolerance = interval * (max(1, min(self.burst, rate)) - 1)
        try:
            allowed, wait_ms = await self.script(
                keys=[f"fp:rl:{key.key_id}"], args=[f"{interval:.3f}", f"{tolerance:.3f}"]
            )
        except (RedisError, OSError) as exc:
            metrics().dependency_errors.labels("redis").inc()
            if time.monotonic() - self._last_warning > 10:
                self._last_warning = time.monotonic()
                log.warning("rate limits not enforced while Redis is unreachable: %s", exc)
            return Decision(True)
        if allowed:
            return Decision(True)
        return Decision(False, max(1, math.ceil(int(wait_ms) / 1000)))
