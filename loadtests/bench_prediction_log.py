"""Benchmark: prediction-log records/s into PostgreSQL, the writer as shipped against the
earlier one (``executemany`` of ``INSERT .. ON CONFLICT DO NOTHING``, 500 rows a batch), in
the same run against the same server; plus the encoding cost per record and the rate of a
replay from the spill file (staged, deduplicated).

Usage: .venv/bin/python loadtests/bench_prediction_log.py [--records 200000] [--json]
Also: the cost of the outcome trigger (migration 0006), COPY batches with and without it, and
the log's bytes per record (table, TOAST and indexes) with and without what a replay needs
(the feature vector and the betting policy, migration 0009), and with each vector stored once
by hash (migration 0014) against every record keeping it inline (``copy-2-inline``: records
whose hash is not their vector's keep it inline, as every record did before 0014).
Starts a durable embedded PostgreSQL of its own (fsync on, as the embedded default runs) in a
temporary directory, unless ``--dsn`` names one (its prediction_log is truncated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from loadtests.harness.reports import print_figures
from loadtests.harness.stack import scratch_postgres
from loadtests.log_samples import GAMES, HASHES, VECTORS, sample
from storage.log_records import COLUMNS, encode, new_record_id
from storage.log_vectors import Vectors
from storage.postgres import connect, create_pool, migrate
from storage.prediction_log import PredictionLogger

LEGACY_INSERT = (
    f"INSERT INTO prediction_log ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


def _legacy_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """What the earlier writer did per record before its INSERT."""
    import uuid

    row = []
    for col in COLUMNS:
        value = record[col]
        if col == "record_id":
            value = uuid.UUID(value)
        elif col in {"feature_as_of", "feature_cutoff", "predicted_at"}:
            value = datetime.fromisoformat(value)
        elif col in {"odds_used", "recommendations", "policy"}:
            value = json.dumps(value)
        row.append(value)
    return tuple(row)


async def legacy(pool: asyncpg.Pool, records: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for i in range(0, len(records), 500):
        async with pool.acquire() as conn:
            await conn.executemany(LEGACY_INSERT, [_legacy_row(r) for r in records[i : i + 500]])
    return len(records) / (time.perf_counter() - started)


async def warm_vectors(pool: asyncpg.Pool, spill: Path) -> Vectors:
    """A logger's memory of written vectors after one record of every game (the steady
    state of a serving worker: a game's vector is new once, then logged again and again)."""
    warm = PredictionLogger(pool, spill, flush_interval=0.01)
    warm.start()
    warm.log_many([sample(i) | {"request_id": "warm"} for i in range(GAMES)])
    assert await warm.flush(60)
    await warm.close()
    return warm.vectors


async def shipped(
    pool: asyncpg.Pool, records: list[dict[str, Any]], spill: Path, writers: int, cold: bool = False
) -> tuple[float, float]:
    """(records/s of encoding plus writing, records/s of the writer alone). Unless ``cold``,
    the vectors are known written first (``warm_vectors``, not timed)."""
    logger = PredictionLogger(
        pool, spill, max_records=len(records) + 1, max_bytes=1 << 40, writers=writers
    )
    if not cold:
        logger.vectors = await warm_vectors(pool, spill)
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM prediction_log WHERE request_id = 'warm'")
    started = time.perf_counter()
    for i in range(0, len(records), 50):  # as the service logs them: one batch request at a time
        logger.log_many(records[i : i + 50])
    encoded = time.perf_counter()
    logger.start()
    assert await logger.flush(600)
    done = time.perf_counter()
    assert logger.stats.written == len(records), logger.stats
    await logger.close()
    return len(records) / (done - started), len(records) / (done - encoded)


async def replay(pool: asyncpg.Pool, records: list[dict[str, Any]], spill: Path) -> float:
    (spill / "spill-bench.copy").write_bytes(b"".join(encode(r) for r in records))
    logger = PredictionLogger(pool, spill)
    started = time.perf_counter()
    await logger._replay()
    rate = len(records) / (time.perf_counter() - started)
    assert logger.stats.replayed == len(records), logger.stats
    return rate


async def trigger_cost(conn: asyncpg.Connection, games: int, batches: int = 40) -> dict[str, Any]:
    """COPY of 2,000-line batches with and without the outcome trigger, alternating batch by
    batch on one connection (``session_replication_role = replica`` skips triggers), so the
    machine's noise falls on both alike: medians per batch and their ratio."""
    times: dict[str, list[float]] = {"with": [], "without": []}
    for k in range(2 * batches):
        mode = ("with", "without")[k % 2]
        lines = b"".join(encode(sample(i) | {"game_id": f"G{i % games:05d}0"}) for i in range(2000))
        role = "origin" if mode == "with" else "replica"
        await conn.execute(f"SET session_replication_role = {role}")
        started = time.perf_counter()
        source: Any = memoryview(lines)  # asyncpg's stubs name only files and iterables
        await conn.copy_to_table("prediction_log", source=source, columns=COLUMNS)
        times[mode].append((time.perf_counter() - started) * 1000)
    await conn.execute("SET session_replication_role = origin")
    med = {m: statistics.median(v) for m, v in times.items()}
    return {"games_per_batch": games, "ms_per_2000_with_trigger": round(med["with"], 2),
            "ms_per_2000_without": round(med["without"], 2),
            "cost": round(med["with"] / med["without"] - 1, 3)}  # fmt: skip


async def bytes_per_record(
    conn: asyncpg.Connection, records: list[dict[str, Any]]
) -> dict[str, Any]:
    """The log's size per record: without the replay columns (vector and policy NULL, as
    before migration 0009), with every record's vector inline (as before 0014), and with each
    vector stored once by hash (as shipped; ``feature_vectors`` included, spread over the
    records), each COPY'd into emptied tables and measured."""
    out = {}
    for name in ("without_replay_columns", "vectors_inline", "vectors_by_hash"):
        await conn.execute("TRUNCATE prediction_log, feature_vectors")
        if name == "without_replay_columns":
            lines = b"".join(encode(r | {"feature_vector": None, "policy": None}) for r in records)
        else:
            lines = b"".join(encode(r, with_vector=name == "vectors_inline") for r in records)
        if name == "vectors_by_hash":
            distinct = {r["feature_hash"]: r["feature_vector"] for r in records}
            await conn.execute(
                "INSERT INTO feature_vectors SELECT * FROM unnest($1::text[], $2::bytea[])",
                list(distinct), list(distinct.values()),
            )  # fmt: skip
        source: Any = memoryview(lines)
        await conn.copy_to_table("prediction_log", source=source, columns=COLUMNS)
        await conn.execute("VACUUM ANALYZE prediction_log, feature_vectors")
        sizes = await conn.fetchrow(
            "SELECT pg_table_size('prediction_log') AS heap, "
            "pg_total_relation_size('prediction_log') AS total, "
            "pg_table_size('feature_vectors') AS vheap, "
            "pg_total_relation_size('feature_vectors') AS vtotal"
        )
        assert sizes is not None
        n = len(records)
        out[name] = {"copy_line_bytes": round(len(lines) / n, 1),
                     "table_bytes_per_record": round((sizes["heap"] + sizes["vheap"]) / n, 1),
                     "with_indexes_bytes_per_record": round((sizes["total"] + sizes["vtotal"]) / n, 1),
                     "of_which_feature_vectors_bytes": sizes["vtotal"]}  # fmt: skip
        if name == "vectors_by_hash":
            out[name]["records_per_vector"] = round(n / len(distinct), 1)
            out[name]["feature_vectors_bytes_per_vector"] = round(sizes["vtotal"] / len(distinct))
    await conn.execute("TRUNCATE prediction_log, feature_vectors")
    return out


def encode_cost(records: list[dict[str, Any]]) -> dict[str, float]:
    """Microseconds a record to encode: vector inline (as before), and as the logger does
    with the vector known written (a reference; the steady state) and with it new."""
    out = {}
    started = time.perf_counter()
    for r in records:
        encode(r)
    out["encode_us_per_record_vector_inline"] = (time.perf_counter() - started) / len(records)
    held = Vectors(capacity=4 * GAMES)
    held.committed(dict(zip(HASHES, VECTORS, strict=True)))
    for name, vectors in (("by_hash_known", held), ("by_hash_new", None)):
        started = time.perf_counter()
        for i in range(0, len(records), 50):
            (vectors or Vectors()).encode(records[i : i + 50])
        out[f"encode_us_per_record_{name}"] = (time.perf_counter() - started) / len(records)
    bare = [r | {"feature_vector": None, "policy": None} for r in records]
    started = time.perf_counter()
    for r in bare:
        encode(r)
    out["encode_us_per_record_without_replay_columns"] = (time.perf_counter() - started) / len(
        records
    )
    return {k: round(v * 1e6, 2) for k, v in out.items()}


async def run(dsn: str, n: int, work: Path) -> dict[str, Any]:
    conn = await connect(dsn)
    await migrate(conn)
    pool = await create_pool(dsn, max_size=3)
    out: dict[str, Any] = {"records": n}
    records = [sample(i) for i in range(n)]
    out |= encode_cost(records[:20000])
    out["line_bytes_vector_inline"] = len(encode(records[0]))
    out["line_bytes_by_hash"] = len(encode(records[0], with_vector=False))
    # interleaved: the machine's noise hits all; "bare" is the 2-writer COPY without the
    # outcome trigger (migration 0006), the peer that shows what queueing outcomes costs;
    # "novec" the 2-writer COPY of records without the replay columns (as before 0009);
    # "inline" every record keeping its vector (as before 0014); "cold" every game's vector
    # new to the writer (each batch inserts the vectors it carries)
    runs = ("copy-2-inline", "copy-2", "copy-1", "copy-2-cold", "legacy", "copy-2-bare",
            "copy-2-novec") * 2  # fmt: skip
    for name in runs:
        await conn.execute("TRUNCATE prediction_log, feature_vectors")
        fresh = [r | {"record_id": new_record_id()} for r in records]
        if name in ("copy-2-inline", "copy-2-cold"):
            if name == "copy-2-inline":  # a hash that is not the vector's: kept inline
                fresh = [r | {"feature_hash": "ab" * 32} for r in fresh]
            total, writer = await shipped(pool, fresh, work / "spill", 2, cold=True)
            key = name[7:]
            out.setdefault(f"copy_2_writers_end_to_end_{key}", []).append(round(total))
            out.setdefault(f"copy_2_writers_writer_only_{key}", []).append(round(writer))
        elif name == "copy-2-novec":
            fresh = [r | {"feature_vector": None, "policy": None} for r in fresh]
            total, writer = await shipped(pool, fresh, work / "spill", 2)
            out.setdefault("copy_2_writers_end_to_end_without_replay_columns", []).append(
                round(total)
            )
            out.setdefault("copy_2_writers_writer_only_without_replay_columns", []).append(
                round(writer)
            )
        elif name == "legacy":
            out.setdefault("legacy_executemany", []).append(round(await legacy(pool, fresh)))
        elif name == "copy-2-bare":
            await conn.execute("ALTER TABLE prediction_log DISABLE TRIGGER prediction_log_outcomes")
            _, writer = await shipped(pool, fresh, work / "spill", 2)
            await conn.execute("ALTER TABLE prediction_log ENABLE TRIGGER prediction_log_outcomes")
            out.setdefault("copy_2_writers_writer_only_without_outcome_trigger", []).append(
                round(writer)
            )
        else:
            total, writer = await shipped(pool, fresh, work / "spill", int(name[-1]))
            out.setdefault(f"copy_{name[-1]}_writers_end_to_end", []).append(round(total))
            out.setdefault(f"copy_{name[-1]}_writers_writer_only", []).append(round(writer))
        assert await conn.fetchval("SELECT count(*) FROM prediction_log") == n
    await conn.execute("TRUNCATE prediction_log, feature_vectors")
    fresh = [r | {"record_id": new_record_id()} for r in records]
    out["replay_staged"] = round(await replay(pool, fresh, work / "spill"))
    out["replay_again_changes_nothing"] = True
    (work / "spill" / "spill-again.copy").write_bytes(b"".join(encode(r) for r in fresh[:1000]))
    await PredictionLogger(pool, work / "spill")._replay()
    out["replay_again_changes_nothing"] = await conn.fetchval(
        "SELECT count(*) FROM prediction_log") == n  # fmt: skip
    out["replay_moved_vectors_to_feature_vectors"] = await conn.fetchval(
        "SELECT count(*) FROM feature_vectors")  # fmt: skip
    await conn.execute("TRUNCATE prediction_log")
    out["outcome_trigger"] = [await trigger_cost(conn, g) for g in (15, 1000)]
    out["bytes_per_record"] = await bytes_per_record(
        conn, [r | {"record_id": new_record_id()} for r in records[:50_000]]
    )
    best_old = max(out["legacy_executemany"])
    out["speedup_end_to_end"] = round(max(out["copy_2_writers_end_to_end"]) / best_old, 2)
    await pool.close()
    await conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dsn", help="a PostgreSQL to use instead of a throwaway one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_postgres("fp-logbench-", durable=True, dsn=args.dsn) as (dsn, work):
        out = asyncio.run(run(dsn, args.records, work))
    print_figures(out, args.json)


if __name__ == "__main__":
    main()
