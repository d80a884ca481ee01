"""The event stream in Redis: one bounded Redis Stream that every worker and replica appends
to and reads from, and the per-key leases that bound how many streams a key holds open.

An entry's fields: ``t`` (event type), ``g`` (game id), ``d`` (the game's date), ``e`` (its
best edge, or empty) and ``p`` (the JSON payload). Its id (``<ms>-<seq>``, given by Redis)
is the event's id. Retention: ``XADD ... MAXLEN ~ max_events`` and, in the same pipeline,
``XTRIM ... MINID ~ <now - max_age>``; Redis trims whole nodes, so a little more may stay.
Entries are never deleted otherwise, so a stream that still holds an id has lost nothing after
it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

Fields = dict[bytes, bytes]


def parse_id(raw: str | bytes) -> tuple[int, int]:
    """``"1625410800000-3"`` as a comparable pair; ValueError if it is not a stream id."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    if not ms.isdigit() or not (seq == "" or seq.isdigit()):
        raise ValueError(f"not a stream id: {text!r}")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Entry:
    id: str
    fields: Fields


class EventStream:
    def __init__(self, client: aioredis.Redis, key: str, max_events: int, max_age_s: int):
        self.client, self.key = client, key
        self.max_events, self.max_age_s = max_events, max_age_s

    def stage(self, pipe: Any, fields: dict[str, str | bytes]) -> None:
        """Queue an append (and the trimming) on a pipeline; the XADD's reply is the id."""
        pipe.xadd(self.key, fields, maxlen=self.max_events, approximate=True)
        oldest_ms = int((time.time() - self.max_age_s) * 1000)
        pipe.xtrim(self.key, minid=f"{max(0, oldest_ms)}-0", approximate=True)

    async def last_id(self) -> str:
        """The id of the latest entry ever added ("0-0" for no stream)."""
        info = await self._info()
        return "0-0" if info is None else _text(info["last-generated-id"])

    async def missed_after(self, after: str) -> bool:
        """Whether entries later than ``after`` may be lost to a reader resuming there: the
        stream no longer holds ``after`` (trimmed — trimming takes the oldest first, so an id
        still held means nothing after it went — or never held it: a stream recreated empty,
        an id from elsewhere, one later than anything added). ``0-0`` (from the start) misses
        something only if anything was trimmed."""
        info = await self._info()
        ms, seq = parse_id(after)
        if info is None:
            return (ms, seq) != (0, 0)
        if (ms, seq) == (0, 0):
            return int(info.get("entries-added") or 0) > int(info["length"])
        if (ms, seq) > parse_id(_text(info["last-generated-id"])):
            return True
        exact = f"{ms}-{seq}"
        return not await self.client.xrange(self.key, min=exact, max=exact, count=1)

    async def range_after(self, after: str, count: int) -> list[Entry]:
        """Up to ``count`` entries later than ``after``, oldest first."""
        rows: Any = await self.client.xrange(self.key, min=f"({after}", max="+", count=count)
        return [Entry(_text(i), f) for i, f in rows or ()]

    async def read_after(self, after: str, block_ms: int, count: int) -> list[Entry]:
        """Entries later than ``after``, waiting up to ``block_ms`` for the first."""
        reply: Any = await self.client.xread({self.key: after}, count=count, block=block_ms)
        if not reply:
            return []
        rows = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
        return [Entry(_text(i), f) for i, f in rows]

    async def _info(self) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.client.xinfo_stream(self.key)
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                return None
            raise
        return info


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# One sorted set per key: member = an open stream, score = when its lease runs out (Redis's
# own clock, so workers' clocks do not matter). Expired leases (a crashed worker's) drop out.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""


class StreamLeases:
    """At most ``limit`` open streams per API key, across every worker and replica."""

    def __init__(self, client: aioredis.Redis, prefix: str, lease_ms: int) -> None:
        self.client, self.prefix, self.lease_ms = client, prefix, lease_ms
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)

    def _key(self, key_id: str) -> str:
        return f"{self.prefix}:{key_id}"

    async def acquire(self, key_id: str, limit: int) -> str | None:
        """A lease id, or None when the key already holds ``limit`` streams."""
        lease = uuid.uuid4().hex
        ok = await self._acquire(keys=[self._key(key_id)], args=[limit, self.lease_ms, lease])
        return lease if ok else None

    async def renew(self, key_id: str, lease: str) -> None:
        await self._renew(keys=[self._key(key_id)], args=[self.lease_ms, lease])

    async def release(self, key_id: str, lease: str) -> None:
        await self.client.zrem(self._key(key_id), lease)
