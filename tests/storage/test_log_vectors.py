"""Feature vectors stored once, by hash, against a real Postgres: a record never committed
before its vector, spills and replays (of today's and of older, inline spill lines) keep
every vector, and reads give every record its own vector back bit for bit."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from storage import log_vectors
from storage import record_queries as rq
from storage.log_records import encode
from storage.postgres import create_pool
from storage.prediction_log import PredictionLogger
from tests.storage.test_prediction_log import _dsn, record, wait_until


def vector(k: int) -> bytes:
    """A game's vector: 85 float64 values, NaN among them."""
    values = np.arange(85, dtype="<f8") * (k + 1) / 7
    values[k % 85] = np.nan
    return values.tobytes()


def of_game(i: int, k: int, **changes: Any) -> dict[str, Any]:
    """Record i of game k: its vector and the vector's true hash, as the predictor logs it."""
    vec = vector(k)
    return record(i, game_id=f"G{k:04d}", feature_vector=vec,
                  feature_hash=hashlib.sha256(vec).hexdigest()) | changes  # fmt: skip


async def orphans(conn: asyncpg.Connection) -> int:
    """Records that refer to a vector the log does not hold (the invariant: none, ever)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM prediction_log l WHERE l.feature_vector IS NULL "
            "AND l.policy IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM feature_vectors v WHERE v.feature_hash = l.feature_hash)"
        )
    )


async def read_back(conn: asyncpg.Connection) -> dict[str, bytes]:
    """Every record's vector as the record API reads it, by request id."""
    out = {}
    for rid in await conn.fetch("SELECT record_id FROM prediction_log"):
        rec = await rq.by_id(conn, rid["record_id"])
        assert rec is not None
        out[rec["request_id"]] = bytes(rec["feature_vector"])
    return out


async def counts(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """(records, records with an inline vector, stored vectors)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM prediction_log) AS n, "
        "(SELECT count(feature_vector) FROM prediction_log) AS inline, "
        "(SELECT count(*) FROM feature_vectors) AS vectors"
    )
    assert row is not None
    return int(row["n"]), int(row["inline"]), int(row["vectors"])


def test_a_carried_line_spills_as_the_inline_encoding() -> None:
    vectors = log_vectors.Vectors()
    r = of_game(1, 3, request_id="x")
    (line,) = vectors.encode([r])
    assert type(line) is log_vectors.Carrying and line == encode(r, with_vector=False)
    assert line.inline() == encode(r)  # byte for byte what a record with its vector encodes to
    assert log_vectors.spill_form([line, b"plain\n"]) == encode(r) + b"plain\n"
    vectors.committed({line.hash: line.vector})
    (again,) = vectors.encode([of_game(2, 3)])
    assert type(again) is bytes  # held: a reference only
    # a held hash with other bytes than it hashes: the vector stays inline, as it came
    odd = of_game(3, 3, feature_vector=vector(4))
    assert vectors.encode([odd]) == [encode(odd)] and b"\\\\x" in encode(odd)


def test_the_memory_of_written_vectors_is_bounded_in_count_and_time() -> None:
    vectors = log_vectors.Vectors(capacity=8, ttl_s=0.05)
    vectors.committed({hashlib.sha256(vector(k)).hexdigest(): vector(k) for k in range(3)})
    assert vectors.holds(hashlib.sha256(vector(0)).hexdigest(), vector(0))
    time.sleep(0.16)  # more than 3 ttl_s
    vectors.encode([])  # every request ages the memory
    assert not vectors.holds(hashlib.sha256(vector(0)).hexdigest(), vector(0))
    for k in range(40):
        vectors.committed({hashlib.sha256(vector(k)).hexdigest(): vector(k)})
    assert len(vectors._new) + len(vectors._old) <= 8


async def test_each_vector_is_stored_once_and_every_record_reads_its_own(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=3)
    logger = PredictionLogger(pool, tmp_path, batch_size=40, flush_interval=0.01)
    logger.start()
    sent: dict[str, bytes] = {}
    for i in range(600):  # 15 games requested again and again, in batches of 5
        r = of_game(i, i % 15, request_id=f"q{i}")
        sent[r["request_id"]] = r["feature_vector"]
        logger.log(r)
        if i % 5 == 4:
            await asyncio.sleep(0)
    odd = of_game(999, 1, request_id="odd", feature_hash="ab" * 32)  # not its hash
    sent["odd"] = odd["feature_vector"]
    logger.log(odd)
    assert await logger.flush(10)
    assert await counts(scratch_db) == (601, 1, 15)  # the odd one keeps its vector inline
    assert await read_back(scratch_db) == sent
    assert await orphans(scratch_db) == 0
    assert logger.vectors.sent <= 30  # each at most once per writer, not once per record
    assert logger.stats.spilled == 0  # overlapping inserts of two writers did not deadlock
    await logger.close()
    await pool.close()


async def test_two_writers_with_overlapping_new_vectors_neither_deadlock_nor_orphan(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=3)
    logger = PredictionLogger(pool, tmp_path, batch_size=200, flush_interval=0.01)
    logger.start()
    for wave in range(6):  # every wave: 200 new games, each batch of 200 carries them all,
        games = list(range(wave * 200, wave * 200 + 200))
        for rep in range(4):  # in opposite orders batch by batch
            logger.log_many([of_game(rep * 10000 + k, k) for k in games[:: (-1) ** rep]])
            await asyncio.sleep(0)
    assert await logger.flush(30)
    assert await counts(scratch_db) == (4800, 0, 1200)
    assert await orphans(scratch_db) == 0 and logger.stats.spilled == 0
    await logger.close()
    await pool.close()


async def test_spilled_while_down_every_vector_is_kept_and_moved_on_replay(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, batch_size=10, flush_interval=0.01,
                              retry_interval=0.05)  # fmt: skip
    logger.start()
    logger.log_many([of_game(i, i % 3, request_id=f"up{i}") for i in range(20)])
    assert await logger.flush(10)  # games 0-2 written: the logger knows the log holds them
    logger.pool = dead = await create_pool(_dsn(scratch_db), max_size=1)
    await dead.close()  # Postgres unreachable: every batch spills
    sent = {f"down{i}": of_game(i, i % 6, request_id=f"down{i}") for i in range(40)}
    logger.log_many(list(sent.values()))  # games 3-5 are new, 0-2 are references only
    assert await logger.flush(10)
    assert logger.stats.spilled == 40
    spilled = await asyncio.to_thread(_spilled_bytes, tmp_path)
    assert spilled.count(b"\\\\x") == sum(1 for i in range(40) if i % 6 >= 3)
    logger.pool = pool  # back
    await wait_until(lambda: _settled(logger, scratch_db, 60))
    assert await counts(scratch_db) == (60, 0, 6)
    back = await read_back(scratch_db)
    assert {k: back[k] for k in sent} == {k: r["feature_vector"] for k, r in sent.items()}
    assert await orphans(scratch_db) == 0
    await logger.close()
    await pool.close()


def _spilled_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("spill-*")))


async def _settled(logger: PredictionLogger, conn: asyncpg.Connection, n: int) -> bool:
    return logger.spill_bytes() == 0 and (await counts(conn))[0] == n


async def test_a_full_queue_spills_new_vectors_inline(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, batch_size=50, max_records=5)
    # 95 overflow, none written yet: games 5 and 6 are only in the spill
    logger.log_many([of_game(i, i % 7) for i in range(100)])
    assert logger.stats.overflowed == 95
    await logger.close()  # the queue's 5 written; the spill waits for a successor
    await PredictionLogger(pool, tmp_path)._replay()
    assert await counts(scratch_db) == (100, 0, 7) and await orphans(scratch_db) == 0
    await pool.close()


async def test_spills_with_inline_vectors_from_earlier_versions_are_replayed(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    # Every record with its vector inline, as versions before vectors were stored once wrote
    # their spill files; one of them does not hash to its feature_hash.
    old = [of_game(i, i % 4, request_id=f"old{i}") for i in range(12)]
    old.append(of_game(50, 9, request_id="odd", feature_hash="cd" * 32))
    (tmp_path / "spill-1-old.copy").write_bytes(b"".join(encode(r) for r in old))
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path)
    await logger._replay()
    await logger._replay()  # twice: nothing more
    assert logger.stats.replayed == 13
    assert await counts(scratch_db) == (13, 1, 4)
    assert await read_back(scratch_db) == {r["request_id"]: r["feature_vector"] for r in old}
    rec = await rq.by_id(scratch_db, uuid.UUID(old[-1]["record_id"]))
    assert rec is not None and rec["feature_hash"] == "cd" * 32
    await pool.close()


async def test_a_sample_and_its_counts_see_vectors_stored_by_hash(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, flush_interval=0.01)
    logger.start()
    logger.log_many([of_game(i, i % 2) for i in range(6)] + [record(7, policy=None)])
    assert await logger.flush(10)
    since = record(0)["feature_cutoff"]
    assert await rq.count_since(scratch_db, since) == (7, 6)
    sampled = await rq.sample(scratch_db, since, 10)
    assert len(sampled) == 6 and all(s["feature_vector"] for s in sampled)
    await logger.close()
    await pool.close()


def retention_sql() -> str:
    """The retention statements as README.md gives them (run by an operator)."""
    from firstpitch.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split("**Retention.**", 1)[1].split("```sql\n", 1)[1].split("```", 1)[0]
    return "\n".join(ln for ln in block.splitlines() if not ln.startswith("VACUUM"))


async def test_the_retention_drops_only_vectors_no_kept_record_needs(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    pool = await create_pool(_dsn(scratch_db), max_size=2)
    logger = PredictionLogger(pool, tmp_path, flush_interval=0.01)
    logger.start()
    now = datetime.now(UTC).isoformat()
    logger.log_many([of_game(1, 1), of_game(2, 2), of_game(3, 2, predicted_at=now),
                     of_game(4, 3, predicted_at=now)])  # fmt: skip
    assert await logger.flush(10)
    await scratch_db.execute(retention_sql())  # games 1 and 2 were predicted in 2021
    stored = {r["feature_hash"] for r in await scratch_db.fetch("SELECT * FROM feature_vectors")}
    assert stored == {hashlib.sha256(vector(k)).hexdigest() for k in (2, 3)}
    assert await orphans(scratch_db) == 0
    assert await rq.count_since(scratch_db, datetime(2021, 1, 1, tzinfo=UTC)) == (4, 2)
    await logger.close()
    await pool.close()
