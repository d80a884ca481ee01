"""The background outcome fold: it folds what is logged without a statistics request, and
waits longer after a long fold so that folding takes a bounded share of the time."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import asyncpg
import pytest

from firstpitch.serving import upkeep
from storage import outcomes
from storage.postgres import Database, create_pool, lowered
from tests.storage.test_outcomes import GAMES, add_games, logged, predictions
from tests.storage.test_prediction_log import _dsn


def test_a_long_fold_is_followed_by_a_longer_pause() -> None:
    assert upkeep.resolve_pause(0.0) == upkeep.RESOLVE_EVERY_S
    assert upkeep.resolve_pause(0.01) == upkeep.RESOLVE_EVERY_S
    # 0.25 s of folding, then 12.25 s of rest: folding is 2 % of the time
    took = 0.25
    pause = upkeep.resolve_pause(took)
    assert took / (took + pause) == pytest.approx(upkeep.RESOLVE_SHARE)
    assert upkeep.resolve_pause(60.0) == upkeep.RESOLVE_AT_MOST_S


async def test_the_background_fold_empties_the_queue(
    scratch_db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = scratch_db
    await add_games(conn)
    monkeypatch.setattr(upkeep, "RESOLVE_EVERY_S", 0.1)
    pool = await create_pool(_dsn(conn), max_size=3)
    task = asyncio.create_task(upkeep.resolve_outcomes(Database(pool, 10)))
    try:
        await logged(pool, predictions(random.Random(3), GAMES, 300), tmp_path)
        for _ in range(100):
            if await outcomes.queued(conn) == 0:
                break
            await asyncio.sleep(0.1)
        assert await outcomes.queued(conn) == 0
        folded = await conn.fetchval(
            "SELECT sum(logged) FROM prediction_outcomes WHERE prediction_type = 'moneyline'")  # fmt: skip
        assert folded == 300
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()


async def test_the_folds_connection_runs_at_background_priority(
    scratch_db: asyncpg.Connection,
) -> None:
    """The service's fold has a pool of its own whose server process runs at the log
    writer's priority (``postgres.lowered``): its bursts yield the cores to requests."""
    pool = await create_pool(_dsn(scratch_db), max_size=1, init=lowered(13), name="fp-fold-test")
    try:
        async with pool.acquire() as conn:
            pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        assert os.getpriority(os.PRIO_PROCESS, pid) == 13
        names = await scratch_db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'fp-fold-test'"
        )
        assert [r["pid"] for r in names] == [pid]
    finally:
        await pool.close()
    other = int(await scratch_db.fetchval("SELECT pg_backend_pid()"))
    assert os.getpriority(os.PRIO_PROCESS, other) == 0  # the server's others are as they were
