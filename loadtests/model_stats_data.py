"""The data of ``loadtests/bench_model_stats.py``: 60 days of 15 synthetic games (results,
odds snapshots) and a prediction log over them (two home-win versions and one total version),
written through the shipped writer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from storage.log_records import new_record_id
from storage.prediction_log import PredictionLogger

START = datetime(2021, 6, 1, 17, 5, tzinfo=UTC)
DAYS, PER_DAY = 60, 15
NOW = START + timedelta(days=DAYS)


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
