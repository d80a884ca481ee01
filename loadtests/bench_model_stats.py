"""Benchmark: what the model-statistics endpoints cost on a large prediction log, read from
the maintained outcomes (migration 0006) against the scan of the log they replaced (its
queries, kept verbatim as the peer in ``loadtests/model_stats_scan.py``), in the same run
against the same server.

It builds a log of ``--records`` predictions (1.7 M by default: 60 days of 15 games, two
home-win versions and one total version, ~1,900 records a game) through the shipped writer
with the outcome trigger off, then times resolving that existing log as migration 0006 does,
then the queries of ``/models/{name}/performance``, ``/models/leaderboard`` and
``/models/{name}/recent-predictions`` both ways, interleaved, and the leaderboard with its
head-to-head (version 2 as the challenger of 1, on the same games) against without. Each new-path figure includes
the resolve every request makes first (an empty queue, as between background folds), and
one resolve with a queue of fresh records is timed too. The games and the log are made by
``loadtests/model_stats_data.py``.

Usage: .venv/bin/python loadtests/bench_model_stats.py [--records 1700000] [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from firstpitch.serving import head_to_head
from loadtests.harness.reports import print_figures
from loadtests.harness.stack import scratch_postgres
from loadtests.model_stats_data import DAYS, NOW, PER_DAY, load_games, load_log
from loadtests.model_stats_scan import scan_latest, scan_performance
from storage import outcomes
from storage.postgres import connect, create_pool, migrate

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
    out["queued_entries_for_20k_fresh_records"] = await outcomes.queued(conn)
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
