"""The prediction log against a real Postgres: COPY batches, a bounded queue that spills,
replay (deduplicated, locked files skipped, torn lines dropped), drain on close."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from storage import log_records as lr
from storage import prediction_log as pl
from storage.log_records import encode, new_record_id
from storage.postgres import create_pool
from storage.prediction_log import PredictionLogger


def record(i: int, **changes: Any) -> dict[str, Any]:
    now = datetime(2021, 7, 4, 15, tzinfo=UTC)
    return {
        "record_id": new_record_id(), "request_id": f"r{i}", "endpoint": "predict",
        "game_id": "CIN202107040", "model_name": "firstpitch-home-win", "model_version": "1",
        "home_model_version": "1", "total_model_version": "1", "feature_version": "fs",
        "feature_hash": "ab", "feature_as_of": now.isoformat(), "feature_cutoff": now,
        "predicted_at": now.isoformat(), "cache_hit": bool(i % 2),
        "home_ml_probability": 0.6, "total_over_probability": 0.5,
        "home_ml_confidence": 0.6, "total_over_confidence": 0.5,
        "odds_used": {"open_ml_home": -120},
        "recommendations": {"moneyline": {"recommended": False}}, "latency_ms": 1.0,
        "feature_vector": VECTOR.tobytes(), "policy": POLICY, "shadow": i == 5,
    } | changes  # fmt: skip


# Every byte value a float64 can hold, NaN and the COPY separators' bytes among them.
VECTOR = np.array([0.1, -0.0, np.nan, np.inf, 1e-310, 9.0, 2.5e300], dtype="<f8")
POLICY = {"devig_method": "power", "kelly_multiplier": 0.25, "max_bet_fraction": 0.05,
          "min_edge": 0.02, "min_confidence": 0.55}  # fmt: skip


def _dsn(conn: asyncpg.Connection) -> str:
    addr = conn._addr  # type: ignore[attr-defined]
    return f"postgresql://postgres@{addr[0]}:{addr[1]}/{conn._params.database}"  # type: ignore[attr-defined]


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM prediction_log"))


async def wait_until(check: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


def test_the_fast_encoding_equals_the_general_one() -> None:
    iso = "2021-07-04T14:00:00+00:00"
    for r in (
        record(1, feature_cutoff=iso),
        record(2, feature_cutoff=iso, latency_ms=3.25),
        record(4, feature_cutoff=iso, feature_vector=None, policy=None),  # older cache entries
        record(5, feature_cutoff=iso),  # a challenger's shadow record
    ):
        assert all(type(r[c]) is str for c in lr.COLUMNS[:13])  # the fast path's case
        general = ("\t".join(lr._field(r[c]) for c in lr.COLUMNS) + "\n").encode()
        assert encode(r) == general
    odd = encode(record(3, request_id="a\tb\\c\nd", latency_ms=2))  # the general path
    assert odd.count(b"\n") == 1 and odd.count(b"\t") == len(lr.COLUMNS) - 1
    assert b"a\\tb\\\\c\\nd" in odd


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


async def test_values_survive_the_round_trip(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, flush_interval=0.01)
    logger.start()
    tricky = {"moneyline": {"reason": 'tab\there, back\\slash, "quoted", ünï'}}
    logger.log_many([record(1, recommendations=tricky, request_id="odd\tid\\x"), record(2)])
    assert await logger.flush(10)
    row = await scratch_db.fetchrow("SELECT * FROM prediction_log WHERE request_id LIKE 'odd%'")
    assert row["request_id"] == "odd\tid\\x"
    assert json.loads(row["recommendations"]) == tricky
    assert row["feature_cutoff"] == datetime(2021, 7, 4, 15, tzinfo=UTC)
    assert row["cache_hit"] is True and row["latency_ms"] == 1.0
    await logger.close()
    await pool.close()


async def test_a_full_queue_spills_and_memory_stays_bounded(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    # The writer is not started: nothing drains, as when Postgres cannot keep up.
    logger = PredictionLogger(pool, tmp_path, batch_size=50, max_records=100)
    for i in range(0, 1000, 50):
        logger.log_many([record(i + k) for k in range(50)])
        assert logger.depth <= 100
    assert logger.depth == 100 and logger.stats.overflowed == 900
    assert logger.spill_bytes() > 0 and await count(scratch_db) == 0
    logger.start()  # the writer catches up: queue to Postgres, spill replayed
    await wait_until(lambda: _settled(logger, scratch_db, 1000))
    assert logger.stats.written == 100 and logger.stats.replayed == 900
    await logger.close()
    await pool.close()


async def _settled(logger: PredictionLogger, conn: asyncpg.Connection, n: int) -> bool:
    return logger.spill_bytes() == 0 and await count(conn) == n


async def test_the_byte_cap_spills_too(scratch_db: asyncpg.Connection, tmp_path: Path) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    line = len(encode(record(0)))
    logger = PredictionLogger(pool, tmp_path, max_records=10**6, max_bytes=10 * line)
    for i in range(30):
        logger.log(record(i))
    assert logger.depth == 10 and logger.queued_bytes <= 10 * line + line
    assert logger.stats.overflowed == 20
    await logger.close()  # the queue is drained, the spill stays for the next writer
    assert await count(scratch_db) == 10
    successor = PredictionLogger(pool, tmp_path)
    await successor._replay()
    assert await count(scratch_db) == 30 and successor.spill_bytes() == 0
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
    await wait_until(lambda: _settled(logger, scratch_db, 35))
    assert logger.stats.replayed == 35
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


async def test_a_batch_saved_again_after_its_copy_committed_is_written_once(
    scratch_db: asyncpg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """close() saves what a stopped writer still holds; if that batch's COPY had committed
    just before the stop, its records are skipped, not written twice, and no outage is
    declared (nothing spilled)."""
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, batch_size=50, flush_interval=0.05)
    logger.start()
    written = [record(i) for i in range(30)]
    logger.log_many(written)
    assert await logger.flush(10)
    fresh = [record(100 + i) for i in range(5)]
    logger._pending[1] = logger.vectors.encode(written + fresh)  # the stopped writer's batch
    with caplog.at_level(logging.WARNING, logger="storage.prediction_log"):
        await logger.close()
    assert await count(scratch_db) == 35
    assert logger.stats.spilled == 0 and logger.spill_bytes() == 0
    assert "unavailable" not in caplog.text
    await pool.close()


async def test_a_replay_twice_writes_once(scratch_db: asyncpg.Connection, tmp_path: Path) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    data = b"".join(encode(record(i)) for i in range(5))
    (tmp_path / "spill-a.copy").write_bytes(data)
    (tmp_path / "spill-copy.copy").write_bytes(data)
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert await count(scratch_db) == 5 and logger.spill_bytes() == 0
    assert logger.stats.replayed == 10  # both files went through; the copies changed nothing
    await pool.close()


async def test_a_file_its_writer_holds_is_not_claimed(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    held = tmp_path / "spill-999-live.copy"
    fd = os.open(held, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another worker, still writing there
    os.write(fd, encode(record(1)))
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert held.exists() and await count(scratch_db) == 0
    os.write(fd, encode(record(2)))  # its later lines still reach the same file
    os.close(fd)  # released: now it is claimable, with every line
    await logger._replay()
    assert not held.exists() and await count(scratch_db) == 2
    await pool.close()


async def test_a_torn_last_line_is_dropped_and_the_rest_replayed(
    scratch_db: asyncpg.Connection, tmp_path: Path, live_logs: pytest.LogCaptureFixture
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    whole = b"".join(encode(record(i)) for i in range(3))
    (tmp_path / "spill-torn.copy").write_bytes(whole + encode(record(9))[:40])
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert await count(scratch_db) == 3 and logger.spill_bytes() == 0
    assert "torn last line" in live_logs.text
    await pool.close()


async def test_spill_files_of_earlier_versions_are_replayed(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    import json

    legacy = [record(i) | {"feature_cutoff": "2021-07-04T15:00:00+00:00"} for i in range(4)]
    for r in legacy:  # those versions kept no vector and no policy
        del r["feature_vector"], r["policy"]
    (tmp_path / "spill-1-ab.jsonl").write_text("".join(json.dumps(r) + "\n" for r in legacy))
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert await count(scratch_db) == 4
    await pool.close()


async def test_the_vector_and_policy_survive_the_round_trip(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, flush_interval=0.01)
    logger.start()
    # every byte 0..255, the tab, newline and backslash bytes among them
    odd = bytes(range(256)) * 2
    logger.log_many([record(1, request_id="vec-1"), record(2, request_id="vec-2",
                                                         feature_vector=odd)])  # fmt: skip
    assert await logger.flush(10)
    rows = {r["request_id"]: r for r in await scratch_db.fetch(
        "SELECT request_id, feature_vector, policy FROM prediction_log")}  # fmt: skip
    back = np.frombuffer(rows["vec-1"]["feature_vector"], dtype="<f8")
    assert back.tobytes() == VECTOR.tobytes()  # bit for bit, NaN and -0.0 included
    assert rows["vec-2"]["feature_vector"] == odd
    assert json.loads(rows["vec-1"]["policy"]) == POLICY
    await logger.close()
    await pool.close()


async def test_copy_spills_from_before_vectors_are_replayed_without_them(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    old = lr.COLUMNS[: lr.LEGACY_FIELDS]  # the columns a line had before migration 0009
    iso = "2021-07-04T15:00:00+00:00"
    lines = [
        "\t".join(lr._field((record(i) | {"feature_cutoff": iso})[c]) for c in old) + "\n"
        for i in range(5)
    ]
    (tmp_path / "spill-old.copy").write_text("".join(lines))
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert logger.stats.replayed == 5
    assert (
        await scratch_db.fetchval(
            "SELECT count(*) FROM prediction_log WHERE feature_vector IS NULL AND policy IS NULL"
        )
        == 5
    )
    await pool.close()


async def test_copy_spills_from_before_shadow_records_are_replayed_as_served(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    old = lr.COLUMNS[: lr.PRE_SHADOW_FIELDS]  # the columns a line had before migration 0012
    assert old[-1] == "policy" and lr.COLUMNS[lr.PRE_SHADOW_FIELDS] == "shadow"
    iso = "2021-07-04T15:00:00+00:00"
    lines = [
        "\t".join(lr._field((record(i) | {"feature_cutoff": iso})[c]) for c in old) + "\n"
        for i in range(4)
    ]
    (tmp_path / "spill-old.copy").write_text("".join(lines))
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    assert logger.stats.replayed == 4
    rows = await scratch_db.fetch("SELECT shadow, feature_vector, policy FROM prediction_log")
    assert len(rows) == 4 and not any(r["shadow"] for r in rows)
    assert all(bytes(r["feature_vector"]) == VECTOR.tobytes() for r in rows)
    await pool.close()


async def test_a_full_spill_refuses_to_record(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    line = len(encode(record(0)))
    logger = PredictionLogger(pool, tmp_path, max_records=2, max_spill_bytes=3 * line)
    logger.log_many([record(i) for i in range(5)])  # 2 queued, 3 spilled: at the limit
    with pytest.raises(pl.LogFull):
        logger.log_many([record(5), record(6)])  # nowhere to keep them: not recorded at all
    assert logger.depth == 2 and logger.stats.queued == 5
    await logger.close()
    successor = PredictionLogger(pool, tmp_path)
    await successor._replay()
    assert await count(scratch_db) == 5  # everything accepted was kept
    await pool.close()
