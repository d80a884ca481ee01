"""The prediction log against a real Postgres: batching, spilling, replay, drain on close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from storage.postgres import create_pool
from storage.prediction_log import PredictionLogger, new_record_id


def record(i: int) -> dict[str, Any]:
    now = datetime(2021, 7, 4, 15, tzinfo=UTC)
    return {
        "record_id": new_record_id(), "request_id": f"r{i}", "endpoint": "predict",
        "game_id": "CIN202107040", "model_name": "firstpitch-home-win", "model_version": "1",
        "home_model_version": "1", "total_model_version": "1", "feature_version": "fs",
        "feature_hash": "ab", "feature_as_of": now, "feature_cutoff": now, "predicted_at": now,
        "cache_hit": bool(i % 2), "home_ml_probability": 0.6, "total_over_probability": 0.5,
        "home_ml_confidence": 0.6, "total_over_confidence": 0.5, "odds_used": {"open_ml_home": -120},
        "recommendations": {"moneyline": {"recommended": False}}, "latency_ms": 1.0,
    }  # fmt: skip


def _dsn(conn: asyncpg.Connection) -> str:
    addr = conn._addr  # type: ignore[attr-defined]
    return f"postgresql://postgres@{addr[0]}:{addr[1]}/{conn._params.database}"  # type: ignore[attr-defined]


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM prediction_log"))


async def test_batches_are_written(scratch_db: asyncpg.Connection, tmp_path: Path) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, batch_size=50, flush_interval=0.05)
    logger.start()
    for i in range(120):
        logger.log(record(i))
    assert await logger.flush(10)
    assert await count(scratch_db) == 120 and logger.stats.written == 120
    await logger.close()
    await pool.close()


async def test_spilled_while_down_then_replayed(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    dead = await create_pool(_dsn(scratch_db), max_size=1)
    await dead.close()  # every acquire now fails, as with Postgres unreachable
    logger = PredictionLogger(dead, tmp_path, batch_size=10, flush_interval=0.01,
                              retry_interval=0.05)  # fmt: skip
    logger.start()
    for i in range(35):
        logger.log(record(i))
    assert await logger.flush(10)
    assert logger.stats.spilled == 35 and logger.spill_bytes() > 0
    assert await count(scratch_db) == 0
    logger.pool = await create_pool(_dsn(scratch_db), max_size=2)  # Postgres is back
    for _ in range(100):
        if logger.spill_bytes() == 0:
            break
        await asyncio.sleep(0.05)
    assert await count(scratch_db) == 35 and logger.stats.replayed == 35
    await logger.close()
    await logger.pool.close()


async def test_close_drains_everything(scratch_db: asyncpg.Connection, tmp_path: Path) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    # A long flush interval: records sit in memory until close() must save them.
    logger = PredictionLogger(pool, tmp_path, batch_size=1000, flush_interval=30)
    logger.start()
    for i in range(77):
        logger.log(record(i))
    await asyncio.sleep(0.1)
    await logger.close()
    assert await count(scratch_db) == 77
    await pool.close()


async def test_a_replay_twice_writes_once(scratch_db: asyncpg.Connection, tmp_path: Path) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path)
    records = [record(i) for i in range(5)]
    logger._spill(records)
    (tmp_path / "spill-copy.jsonl").write_text(logger.spill_path.read_text())
    await logger._replay()
    assert await count(scratch_db) == 5 and logger.spill_bytes() == 0
    await pool.close()
