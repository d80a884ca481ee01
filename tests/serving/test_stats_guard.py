"""Model-statistics queries are bounded: a few per worker at once, each within a time budget."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from firstpitch.serving import runtime as rt_module
from firstpitch.serving.errors import Unavailable
from firstpitch.serving.runtime import ApiRuntime
from storage.postgres import Database, create_pool
from tests.storage.test_prediction_log import _dsn


def _runtime(pool: asyncpg.Pool) -> ApiRuntime:
    fields: dict[str, Any] = dict.fromkeys(
        (
            "settings",
            "clock",
            "redis",
            "logger",
            "catalog",
            "backend",
            "keyring",
            "limiter",
            "features",
        )
    )
    return ApiRuntime(pool=pool, db=Database(pool, 5), **fields)


async def test_slow_statistics_are_cut_off_and_slots_are_bounded(
    scratch_db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=4)
    try:
        rt = _runtime(pool)
        monkeypatch.setattr(rt_module, "STATS_BUDGET_MS", 200)
        with pytest.raises(Unavailable, match="time budget"):
            async with rt.stats() as conn:
                await conn.execute("SELECT pg_sleep(2)")
        async with rt.stats() as conn:  # the slot was given back, the timeout reset
            assert await conn.fetchval("SHOW statement_timeout") == "200ms"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "0"

        monkeypatch.setattr(rt_module, "STATS_WAIT_S", 0.2)
        release = asyncio.Event()

        async def hold() -> None:
            async with rt.stats():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(rt_module.STATS_SLOTS)]
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable, match="busy"):
            async with rt.stats():
                pass
        release.set()
        await asyncio.gather(*holders)
        async with rt.stats() as conn:
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
