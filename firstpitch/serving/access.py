"""Who may call what, and how often: API keys (cached from Postgres) and per-key rate limits
(held in Redis, so they hold across workers and replicas).

Each worker keeps the table of active keys in memory. Postgres announces every change to a
key (LISTEN/NOTIFY, migration 0005) and the worker fetches that key at once, so a new key
works and a revoked one stops within milliseconds in every worker, however many made-up keys
are being tried. The whole table is also reloaded every ``auth_refresh_s`` and whenever the
listening connection is (re)opened, in case an announcement was missed. A key id the worker
does not hold is looked up by itself at most ``MISS_LOOKUPS_PER_S`` times a second, so
made-up keys cannot flood Postgres. While Postgres is unreachable the last table stays in
force, so predictions keep being served.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
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
    """``listener`` opens the connection that follows key changes (None: reloads only)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        refresh_s: float,
        timeout_s: float = 2.0,
        listener: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        self.pool, self.refresh_s, self.timeout_s = pool, refresh_s, timeout_s
        self.listener = listener
        self.keys: dict[str, ApiKey] = {}
        self._changed: asyncio.Queue[str] = asyncio.Queue()
        self._announced: dict[str, float] = {}
        self._window, self._lookups = 0.0, 0
        self._pending: dict[str, asyncio.Task[ApiKey | None]] = {}
        self._refreshing: asyncio.Task[bool] | None = None

    async def refresh(self) -> bool:
        """Reload the active keys; on failure keep the ones held (and say so)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._load())
        return await asyncio.shield(self._refreshing)

    async def _load(self) -> bool:
        started = time.monotonic()
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn:
                fresh = await api_keys.active(conn)
        except UNREACHABLE as exc:
            log.warning(
                "API keys not reloaded (%s); the %d held stay in force", exc, len(self.keys)
            )
            return False
        # A key announced while the table was read may be newer than what the read saw.
        for key_id, at in list(self._announced.items()):
            if at < started:
                del self._announced[key_id]
            elif key_id in self.keys:
                fresh[key_id] = self.keys[key_id]
            else:
                fresh.pop(key_id, None)
        self.keys = fresh
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    async def follow(self) -> None:
        """Apply each announced key change, in order; reconnect (and reload) after a loss."""
        if self.listener is None:
            return
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self.listener()
                await api_keys.listen(conn, self._changed.put_nowait)
                await self.refresh()  # what changed while nobody listened
                while not conn.is_closed():
                    try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                        async with asyncio.timeout(1.0):
                            key_id = await self._changed.get()
                    except TimeoutError:
                        continue
                    await self._apply(key_id)
            except (*UNREACHABLE, TimeoutError) as exc:
                log.warning("API key changes not followed (%r); retrying in 1 s", exc)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close(timeout=1)
            await asyncio.sleep(1.0)

    async def _apply(self, key_id: str) -> None:
        self._announced[key_id] = time.monotonic()
        async with self.pool.acquire(timeout=self.timeout_s) as conn:
            key = await api_keys.get_active(conn, key_id)
        if key is None:
            self.keys.pop(key_id, None)
        else:
            self.keys[key_id] = key

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
# (ms, Redis's clock, so every worker and replica agrees). A request costs `cost` cells (the
# games it asks for): it is admitted if `fit` = min(cost, burst) cells fit in the burst
# left, and moves the arrival time on by all `cost` (a batch larger than the burst needs the
# whole burst unused and leaves the key waiting for the excess). Returns {allowed, ms to
# wait, ms the arrival time is ahead of now} (the last for the per-worker stand-in).
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local fit = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat + interval * (fit - 1) - tolerance - now
if wait > 0 then return {0, math.ceil(wait), math.ceil(tat - now)} end
local new_tat = tat + interval * cost
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0, math.ceil(new_tat - now)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


def _decision(allowed: bool, wait_ms: float) -> Decision:
    return Decision(True) if allowed else Decision(False, max(1, math.ceil(wait_ms / 1000)))


class LocalLimits:
    """The same cell rate, held in this worker: the stand-in while Redis cannot answer. It
    starts from what Redis last said of each key, so a key at its limit stays there."""

    def __init__(self) -> None:
        self.tats: dict[str, float] = {}

    def seen(self, key_id: str, ahead_ms: float) -> None:
        self.tats[key_id] = time.monotonic() * 1000 + ahead_ms

    def check(
        self, key_id: str, interval: float, tolerance: float, cost: int, fit: int
    ) -> Decision:
        now = time.monotonic() * 1000
        tat = max(self.tats.get(key_id, now), now)
        wait = tat + interval * (fit - 1) - tolerance - now
        if wait > 0:
            return _decision(False, wait)
        self.tats[key_id] = tat + interval * cost
        return Decision(True)


class RateLimiter:
    """Per-key limits in Redis, counted in games (a batch of 20 costs 20). While Redis cannot
    answer, each worker enforces its share (1/``workers``) of every limit by itself, from
    where Redis last left each key: an approximate limit rather than none."""

    def __init__(
        self, client: aioredis.Redis, per_minute: int, burst: int, workers: int = 1
    ) -> None:
        self.client, self.per_minute, self.burst = client, per_minute, burst
        self.workers = max(1, workers)
        self.script = client.register_script(GCRA)
        self.local = LocalLimits()
        self._last_warning = 0.0

    async def check(self, key: ApiKey, cost: int = 1, charged: int = 0) -> Decision:
        """Charge ``cost`` games; ``charged``: games of the same request charged before (a
        batch pays one at the door and the rest once its size is known)."""
        rate = key.rate_limit_per_minute or self.per_minute
        burst = max(1, min(self.burst, rate))
        interval = 60_000 / rate
        fit = max(0, min(cost, burst - charged))
        try:
            allowed, wait_ms, ahead_ms = await self.script(
                keys=[f"fp:rl:{key.key_id}"],
                args=[f"{interval:.6f}", f"{interval * (burst - 1):.6f}", cost, fit],
            )
        except (RedisError, OSError) as exc:
            metrics().dependency_errors.labels("redis").inc()
            if time.monotonic() - self._last_warning > 10:
                self._last_warning = time.monotonic()
                log.warning("rate limits enforced per worker while Redis is unreachable: %s", exc)
            share = max(1, burst // self.workers)
            fit = max(0, min(cost, share - charged))
            return self.local.check(key.key_id, interval * self.workers,
                                    interval * self.workers * (share - 1), cost, fit)  # fmt: skip
        self.local.seen(key.key_id, int(ahead_ms))
        return _decision(bool(allowed), int(wait_ms))
