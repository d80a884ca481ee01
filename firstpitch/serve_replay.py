"""``firstpitch serve --replay DATE``: the demo with a season replay beside it.

The service then serves a world of its own on the same servers: a database holding the
history before DATE (``replay``, loaded afresh each time) and Redis database 1
(emptied), with a drivable clock that starts the day before; once the service is ready,
``firstpitch replay`` plays the days from DATE through its feed, so games, odds moves and
results arrive as they did. The champions are the ones the state directory already holds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import redis.asyncio as aioredis

from firstpitch.runtime import Endpoints
from firstpitch.settings import Settings
from ingest.history_cut import keep_before
from ingest.loader import ingest
from storage import api_keys, postgres

DATABASE = "replay"  # on the same server, loaded afresh by every replay
REDIS_DB = 1


@dataclass(frozen=True)
class ReplayPlan:
    first: date
    days: int
    speed: float

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)

    @property
    def starts_at(self) -> datetime:
        """The clock before the first event (noon UTC, the day before)."""
        return datetime.combine(self.first - timedelta(days=1), time(12), UTC)


async def prepare(
    settings: Settings, endpoints: Endpoints, plan: ReplayPlan
) -> tuple[Endpoints, str]:
    """The replay's own database and Redis database; returns them and a feed key."""
    admin = await postgres.connect(endpoints.postgres_dsn)
    try:
        await admin.execute("DROP DATABASE IF EXISTS replay WITH (FORCE)")
        await admin.execute("CREATE DATABASE replay")
    finally:
        await admin.close()
    dsn = f"{endpoints.postgres_dsn.rsplit('/', 1)[0]}/{DATABASE}"
    conn = await postgres.connect(dsn)
    try:
        await ingest(conn, settings.data_dir, set(range(2005, plan.first.year + 1)))
        await keep_before(conn, plan.first)
        _, key = await api_keys.create(conn, "replay", ["feed", "predictions"], 10**9)
    finally:
        await conn.close()
    url = f"{endpoints.redis_url.rsplit('/', 1)[0]}/{REDIS_DB}"
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return Endpoints(dsn, url), key


def setup(
    settings: Settings, endpoints: Endpoints, plan: ReplayPlan
) -> tuple[Settings, Endpoints, str]:
    """Settings, endpoints and a feed key for serving the replay's world."""
    replay_endpoints, key = asyncio.run(prepare(settings, endpoints, plan))
    return settings.model_copy(update={"now": plan.starts_at}), replay_endpoints, key


def start(plan: ReplayPlan, url: str, key: str) -> subprocess.Popen[bytes]:
    """``firstpitch replay`` against the running service, in a process of its own."""
    cmd = [sys.executable, "-m", "firstpitch", "replay", "--from", plan.first.isoformat(),
           "--to", plan.last.isoformat(), "--speed", str(plan.speed), "--url", url,
           "--api-key", key]  # fmt: skip
    return subprocess.Popen(cmd)
