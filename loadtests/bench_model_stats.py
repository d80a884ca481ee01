"""Benchmark: what the model-statistics endpoints cost on a large prediction log, read from
the maintained outcomes (migration 0006) against the scan of the log they replaced (its
queries, kept here verbatim as the peer), in the same run against the same server.

It builds a log of ``--records`` predictions (1.7 M by default: 60 days of 15 games, two
home-win versions and one total version, ~1,900 records a game) through the shipped writer
with the outcome trigger off, then times resolving that existing log as migration 0006 does,
then the queries of ``/models/{name}/performance``, ``/models/leaderboard`` and
``/models/{name}/recent-predictions`` both ways, interleaved, and the leaderboard with its
head-to-head (version 2 as the challenger of 1, on the same games) against without. Each new-path figure includes
the resolve every request makes first (an empty queue, as between background folds), and
one resolve with a queue of fresh records is timed too.

Usage: .venv/bin/python loadtests/bench_model_stats.py [--records 1700000] [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from features.market import decimal_odds
from firstpitch.serving import head_to_head
from loadtests.harness.reports import print_figures
from loadtests.harness.stack import scratch_postgres
from storage import outcomes
from storage.log_records import new_record_id
from storage.postgres import connect, create_pool, migrate
from storage.prediction_log import PredictionLogger
from training.metrics import scores

START = datetime(2021, 6, 1, 17, 5, tzinfo=UTC)
DAYS, PER_DAY = 60, 15
NOW = START + timedelta(days=DAYS)

# ------------------------------------------------------------- the peer: the former scan
VERSION_COLUMN = {"moneyline": "home_model_version", "total": "total_model_version"}
LATEST_SQL = """
SELECT DISTINCT ON (p.game_id, p.{version_col})
       p.game_id, p.{version_col} AS version, p.predicted_at, p.home_ml_probability,
       p.total_over_probability, p.home_ml_confidence, p.total_over_confidence, p.odds_used,
       p.recommendations, p.cache_hit, p.model_name,
       r.home_score, r.away_score, (r.known_at <= $2) AS final,
       o.close_ml_home, o.close_ml_away, o.close_total, o.close_over_price, o.close_under_price
FROM prediction_log p
LEFT JOIN game_results r ON r.game_id = p.game_id AND r.known_at <= $2
LEFT JOIN odds o ON o.game_id = p.game_id
WHERE p.predicted_at >= $1 AND p.predicted_at <= $2 {version_filter}
ORDER BY p.game_id, p.{version_col}, p.predicted_at DESC
"""


async def scan_latest(
    conn: asyncpg.Connection, ptype: str, days: int, version: str | None = None
) -> list[dict[str, Any]]:
    col = VERSION_COLUMN[ptype]
    args: list[Any] = [NOW - timedelta(days=days), NOW]
    where = ""
    if version is not None:
        where = f"AND p.{col} = $3"
        args.append(version)
    rows = await conn.fetch(LATEST_SQL.format(version_col=col, version_filter=where), *args)
    out = []
    for row in rows:
        d = dict(row)
        d["odds_used"] = json.loads(d["odds_used"])
        d["recommendations"] = json.loads(d["recommendations"])
        out.append(d)
    return out


def scan_performance(rows: list[dict[str, Any]], ptype: str) -> dict[str, Any]:
    """The former Python aggregation (outcome, scores, ROI, CLV), condensed."""
    key = "home_ml_probability" if ptype == "moneyline" else "total_over_probability"
    ys, ps, profits = [], [], []
    for r in rows:
        if r["home_score"] is None:
            continue
        y = int(r["home_score"] > r["away_score"])
        ys.append(y)
        ps.append(r[key])
        bet = r["recommendations"]["moneyline" if ptype == "moneyline" else "total"]
        if bet.get("recommended"):
            won = y == 1 if bet["side"] in ("home", "over") else y == 0
            profits.append(bet["decimal_odds"] - 1 if won else -1.0)
            if r["close_ml_home"] is not None:
                decimal_odds(r["close_ml_home"])
    if not ys:
        return {"resolved": 0}
    figures = scores(np.array(ys, dtype=np.float64), np.array(ps, dtype=np.float64))
    return figures | {"roi": sum(profits) / len(profits) if profits else None}


# ------------------------------------------------------------------------- the data
def game_id(i: int) -> str:
    day = START + timedelta(days=i // PER_DAY)
    return f"T{i % PER_DAY:02d}{day:%Y%m%d}0"


async def load_games(conn: asyncpg.Connection) -> None:
    rows: list[tuple[Any, ...]] = []
    results: list[tuple[Any, ...]] = []
    snaps: list[tuple[Any, ...]] = []
    for i in range(DAYS * PER_DAY):
        start = START + timedelta(days=i // PER_DAY, minutes=10 * (i % PER_DAY))
        g = game_id(i)
        rows.append((g, start.date(), 2021, 0, "regular", "Tue", "AWY", "HOM", "N", "P01",
                     "America/New_York", start, [], [], "bench", i))  # fmt: skip
        if start + timedelta(hours=3) < NOW:
            results.append(
                (g, start + timedelta(hours=3), i % 7, (i * 3) % 7 + (i % 7 == (i * 3) % 7))
            )
        snaps.append((g, "moneyline", "book", start - timedelta(hours=8), -120, 110))
        snaps.append((g, "moneyline", "book", start, -135 + i % 20, 120))
    await conn.copy_records_to_table("games", records=rows, columns=[
        "game_id", "game_date", "season", "game_num", "game_type", "day_of_week", "away_team",
        "home_team", "day_night", "park_id", "park_tz", "scheduled_start", "away_lineup",
        "home_lineup", "source_file", "source_line"])  # fmt: skip
    await conn.copy_records_to_table("game_results", records=results,
                                     columns=["game_id", "known_at", "away_score", "home_score"])  # fmt: skip
    await conn.copy_records_to_table("odds_snapshots", records=snaps, columns=[
        "game_id", "market", "source", "observed_at", "home_price", "away_price"])  # fmt: skip


def sample(i: int, n: int) -> dict[str, Any]:
    g = i * DAYS * PER_DAY // n  # records in game order, ~n / games each
    start = START + timedelta(days=g // PER_DAY, minutes=10 * (g % PER_DAY))
    at = start - timedelta(hours=30) + timedelta(seconds=(i * 7919) % 100_000)
    p = 0.35 + (i % 97) / 240
    rec = {"market": "moneyline", "side": "home" if p > 0.5 else "away", "line": None,
           "decimal_odds": 1.909091, "recommended": i % 3 == 0, "recommended_bet_size": 0.01,
           "edge": 0.03}  # fmt: skip
    return {
        "record_id": new_record_id(), "request_id": f"b{i // 50}", "endpoint": "batch",
        "game_id": game_id(g), "model_name": "firstpitch-home-win",
        "model_version": "2" if i % 2 else "1", "home_model_version": "2" if i % 2 else "1",
        "total_model_version": "1", "feature_version": "fs", "feature_hash": "ab" * 32,
        "feature_as_of": at.isoformat(), "feature_cutoff": at.isoformat(),
        "predicted_at": at.isoformat(), "cache_hit": bool(i % 2), "home_ml_probability": p,
        "total_over_probability": 1 - p, "home_ml_confidence": max(p, 1 - p),
        "total_over_confidence": max(p, 1 - p),
        "odds_used": {"open_ml_home": -120, "open_ml_away": 110, "open_total": 8.5},
        "recommendations": {"moneyline": rec, "total": rec | {"market": "total", "side": "over",
                                                                "line": 8.5}},
        "latency_ms": 1.0,
    }  # fmt: skip


async def load_log(pool: asyncpg.Pool, n: int, spill: Path, offset: int = 0) -> float:
    logger = PredictionLogger(pool, spill, max_records=60_000, max_bytes=1 << 32, writers=2)
    logger.start()
    started = time.perf_counter()
    for lo in range(0, n, 50_000):
        logger.log_many([sample(offset + i, offset + n) for i in range(lo, min(n, lo + 50_000))])
        assert await logger.flush(600)
    rate = n / (time.perf_counter() - started)
    await logger.close()
    return rate


# what migration 0006 does to the log it finds
EXISTING_LOG = """
INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged, latest_at)
SELECT game_id, 'moneyline', home_model_version, count(*), max(predicted_at)
FROM prediction_log GROUP BY game_id, home_model_version
UNION ALL
SELECT game_id, 'total', total_model_version, count(*), max(predicted_at)
FROM prediction_log GROUP BY game_id, total_model_version;
SELECT outcomes_resolve(2147483647);
"""


# ------------------------------------------------------------------------ the timing
async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


async def time_head_to_head(
    conn: asyncpg.Connection, leaderboard: Callable[[], Awaitable[Any]], repeat: int
) -> dict[str, Any]:
    """The leaderboard with its head-to-head (version 2 challenging 1 on the same games)
    against the leaderboard without it, interleaved."""
    served = {"moneyline": ("firstpitch-home-win", "1", ["2"])}

    async def with_head_to_head() -> Any:
        board = await leaderboard()
        return board, await head_to_head.board(conn, served, NOW, outcomes.Window(30), "log_loss")

    out: dict[str, Any] = {"with": [], "without": []}
    for _ in range(2):
        out["with"].append(await timed(with_head_to_head, repeat))
        out["without"].append(await timed(leaderboard, repeat))
    games = (await with_head_to_head())[1][0]["games"]
    return {
        "leaderboard_with_head_to_head_ms": out["with"],
        "leaderboard_without_ms": out["without"],
        "head_to_head_games": games,
        "head_to_head_ratio": round(min(out["with"]) / min(out["without"]), 2),
    }


async def run(dsn: str, n: int, repeat: int, work: Path) -> dict[str, Any]:
    conn = await connect(dsn)
    await migrate(conn)
    await load_games(conn)
    pool = await create_pool(dsn, max_size=3)
    out: dict[str, Any] = {"records": n, "games": DAYS * PER_DAY}
    # An existing log, as migration 0006 found it: written with the outcome trigger off (the
    # log's later columns rule out loading it at migration 0005), then queued and resolved
    # the way that migration does.
    await conn.execute("ALTER TABLE prediction_log DISABLE TRIGGER prediction_log_outcomes")
    out["load_records_per_s_generation_included"] = round(await load_log(pool, n, work / "spill"))
    await conn.execute("ALTER TABLE prediction_log ENABLE TRIGGER prediction_log_outcomes")
    await conn.execute("VACUUM ANALYZE")
    started = time.perf_counter()
    await conn.execute(EXISTING_LOG)
    out["resolve_existing_log_s"] = round(time.perf_counter() - started, 2)
    out["outcome_rows"] = await conn.fetchval("SELECT count(*) FROM prediction_outcomes")
    await conn.execute("VACUUM ANALYZE")
    win = outcomes.Window(30)

    async def new_performance() -> Any:
        await outcomes.resolve(conn)
        return await outcomes.performance(conn, "moneyline", NOW, win, "2")

    async def old_performance() -> Any:
        return scan_performance(await scan_latest(conn, "moneyline", 30, "2"), "moneyline")

    async def new_leaderboard() -> Any:
        await outcomes.resolve(conn)
        return [await outcomes.performance(conn, t, NOW, win) for t in ("moneyline", "total")]

    async def old_leaderboard() -> Any:
        out = []
        for t in ("moneyline", "total"):
            rows = await scan_latest(conn, t, 30)
            for v in sorted({r["version"] for r in rows}):
                out.append(scan_performance([r for r in rows if r["version"] == v], t))
        return out

    async def new_recent() -> Any:
        await outcomes.resolve(conn)
        return await outcomes.recent(conn, "moneyline", "2", NOW, 7, 50, False)

    async def old_recent() -> Any:
        rows = await scan_latest(conn, "moneyline", 7, "2")
        return sorted(rows, key=lambda r: r["predicted_at"], reverse=True)[:50]

    pairs = {"performance": (new_performance, old_performance),
             "leaderboard": (new_leaderboard, old_leaderboard),
             "recent_predictions": (new_recent, old_recent)}  # fmt: skip
    for name, (new, old) in pairs.items():
        for _ in range(2):  # interleaved: the machine's noise hits both
            out.setdefault(f"{name}_outcomes_ms", []).append(await timed(new, repeat))
            out.setdefault(f"{name}_log_scan_ms", []).append(await timed(old, repeat))
        out[f"{name}_speedup"] = round(
            min(out[f"{name}_log_scan_ms"]) / min(out[f"{name}_outcomes_ms"]), 1
        )
    out |= await time_head_to_head(conn, new_leaderboard, repeat)
    plan = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + outcomes.PERFORMANCE_SQL.format(
        window=outcomes.WINDOW_DAYS, version=outcomes.EVERY_VERSION
    )
    rows = await conn.fetch(plan, "moneyline", NOW, None, NOW - timedelta(days=30))
    out["performance_plan"] = [r[0] for r in rows][-3:]
    fresh = 20_000
    await load_log(pool, fresh, work / "spill", n)
    out["queued_entries_for_20k_fresh_records"] = await conn.fetchval(
        "SELECT count(*) FROM prediction_outcome_queue")  # fmt: skip
    started = time.perf_counter()
    await outcomes.resolve(conn)
    out["resolve_20k_fresh_records_ms"] = round((time.perf_counter() - started) * 1000, 1)
    await pool.close()
    await conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_700_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_postgres("fp-statsbench-", durable=False) as (dsn, work):
        out = asyncio.run(run(dsn, args.records, args.repeat, work))
    print_figures(out, args.json)


if __name__ == "__main__":
    main()
