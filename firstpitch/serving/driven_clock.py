"""A drivable clock shared by every worker and replica through Redis (``fp:clock``, epoch
microseconds). Driving it sets the key; each worker reads it before every request, so a
replay that moves the clock and then posts facts of the new time is never told, by another
worker, that they are from the future."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis.asyncio as aioredis

from firstpitch.clock import Clock
from firstpitch.serving.outages import REDIS, OutageLog
from storage.redis import UNREACHABLE

KEY = "fp:clock"
log = logging.getLogger(__name__)
_outage = OutageLog(log)


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


async def follow(client: aioredis.Redis, clock: Clock) -> None:
    """Take the shared instant, if one was set (keeps the last one while Redis is away)."""
    try:
        raw = await client.get(KEY)
    except UNREACHABLE as exc:
        _outage.warn(REDIS, "the driven clock keeps its last instant", exc)
        return
    if raw is not None:
        clock.drive(datetime.fromtimestamp(int(raw) / 1_000_000, UTC))


async def drive(client: aioredis.Redis, clock: Clock, instant: datetime) -> datetime:
    """Move the shared clock to ``instant``; returns the instant it showed before."""
    await follow(client, clock)
    previous = clock.now()
    clock.drive(instant)
    await client.set(KEY, _us(instant))
    return previous
