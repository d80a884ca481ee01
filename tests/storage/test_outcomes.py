"""Resolved outcomes against a real Postgres: the maintained rows equal a recomputation from
the log whatever the order things arrive in — predictions logged after their result,
duplicates from a spill replay, corrected results, late closing snapshots, several model
versions, writers and resolvers racing — and an existing log is resolved by the migration."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ingest import feed_store
from ingest.feed_records import validate
from replay.recompute import recompute
from storage import log_records as lr
from storage import outcomes
from storage.log_records import encode, new_record_id
from storage.postgres import Conn, connect, create_pool, load_migrations, migrate
from storage.prediction_log import PredictionLogger
from tests.storage.test_prediction_log import _dsn

# the statements' queued keys moved to the per-key queue, as versions before 0015 left them
PRE_0015_QUEUE = """
WITH taken AS (DELETE FROM prediction_outcome_batches RETURNING keys)
INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged, latest_at)
SELECT k.game_id, k.prediction_type, k.model_version, k.logged, k.latest_at
FROM taken, unnest(taken.keys) k
"""

DAY = datetime(2021, 7, 4, 17, 5, tzinfo=UTC)  # first pitch of the first game
GAMES = [f"CIN2021070{4 + i // 4}{i % 4}" for i in range(8)]  # two days, four games each
NOW = datetime(2021, 7, 8, 12, tzinfo=UTC)
FEED_NOW = datetime(2021, 7, 10, tzinfo=UTC)
FIELDS = ("predictions", "resolved", "pending", "accuracy", "brier", "log_loss", "auc", "bets",
          "bets_won", "roi", "roi_staked", "closing_line_value", "clv_bets")  # fmt: skip


def first_pitch(game: str) -> datetime:
    i = GAMES.index(game)
    return DAY + timedelta(days=i // 4, hours=3 * (i % 4))


async def add_games(conn: asyncpg.Connection) -> None:
    for game in GAMES:
        start = first_pitch(game)
        await conn.execute(
            "INSERT INTO games (game_id, game_date, season, game_num, game_type, day_of_week,"
            " away_team, home_team, day_night, park_id, park_tz, scheduled_start, away_lineup,"
            " home_lineup, source_file, source_line) VALUES ($1, $2, 2021, $3, 'regular', 'Sun',"
            " 'CHN', 'CIN', 'D', 'CIN09', 'America/New_York', $4, '{}', '{}', 'test', 0)",
            game, start.date(), GAMES.index(game) % 4, start,
        )  # fmt: skip
        snaps = [  # the opening line, two quotes at first pitch (the greater source wins),
            ("moneyline", "workbook", start - timedelta(hours=8), -120, 110, None, None, None),
            ("moneyline", "workbook", start, -135, 125, None, None, None),
            ("moneyline", "book-a", start, -150, 140, None, None, None),
            ("moneyline", "book-a", start + timedelta(minutes=5), -400, 300, None, None, None),
            ("total", "workbook", start - timedelta(hours=8), None, None, -110, -110, 8.5),
            # one game's closing total moved to another line: its total bets have no CLV
            ("total", "workbook", start, None, None, -105, -115, 9.0 if game == GAMES[5] else 8.5),
        ]  # fmt: skip  (and a quote after first pitch, which never counts)
        for s in snaps:
            await conn.execute(
                "INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price,"
                " away_price, over_price, under_price, line) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                game, *s,
            )  # fmt: skip


def bet(rng: random.Random, market: str, side: str, line: float | None) -> dict[str, Any]:
    recommended = rng.random() < 0.6
    american = rng.choice([-150, -120, 105, 130])
    dec = round(1 + (american / 100 if american > 0 else 100 / -american), 6)
    return {"market": market, "side": side, "line": line, "odds": american, "decimal_odds": dec,
            "recommended": recommended,
            "recommended_bet_size": round(rng.uniform(0.001, 0.05), 6) if recommended else 0.0}  # fmt: skip


def record(
    rng: random.Random, game: str, at: datetime, versions: tuple[str, str]
) -> dict[str, Any]:
    p_home, p_over = rng.uniform(0.3, 0.75), rng.uniform(0.35, 0.65)
    line = None if game == GAMES[7] else 8.5  # a game without a total line
    return {
        "record_id": new_record_id(), "request_id": uuid.uuid4().hex, "endpoint": "batch",
        "game_id": game, "model_name": "firstpitch-home-win", "model_version": versions[0],
        "home_model_version": versions[0], "total_model_version": versions[1],
        "feature_version": "fs", "feature_hash": "ab", "feature_as_of": at.isoformat(),
        "feature_cutoff": at.isoformat(), "predicted_at": at.isoformat(),
        "cache_hit": rng.random() < 0.5, "home_ml_probability": p_home,
        "total_over_probability": p_over, "home_ml_confidence": max(p_home, 1 - p_home),
        "total_over_confidence": max(p_over, 1 - p_over),
        "odds_used": {"open_ml_home": -120, "open_ml_away": 110, "open_total": line},
        "recommendations": {
            "moneyline": bet(rng, "moneyline", rng.choice(["home", "away"]), None),
            "total": bet(rng, "total", rng.choice(["over", "under"]), line),
        },
        "latency_ms": 1.0,
    }  # fmt: skip


def predictions(rng: random.Random, games: list[str], n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        game = rng.choice(games)
        at = first_pitch(game) - timedelta(minutes=rng.randrange(0, 36 * 60))
        out.append(record(rng, game, at, rng.choice([("1", "1"), ("2", "1"), ("2", "3")])))
    return out


async def results(conn: Conn, *scores: tuple[str, int, int]) -> dict[str, Any]:
    recs = [{"game_id": g, "home_score": h, "away_score": a, "duration_min": 180,
             "known_at": (first_pitch(g) + timedelta(hours=3)).isoformat(),
             **{f"{side}_{s}": 1 for side in ("home", "away")
                for s in ("h", "hr", "bb", "k", "e", "er")}} for g, h, a in scores]  # fmt: skip
    written = await feed_store.write(
        conn, "results", validate("results", recs, FEED_NOW, timedelta(minutes=2))
    )
    return written.to_dict()


async def agree(conn: asyncpg.Connection, now: datetime = NOW, **window: Any) -> int:
    """Every version's figures equal the recomputation; returns how many were compared."""
    compared = 0
    for ptype in ("moneyline", "total"):
        if window.get("date_from"):
            win = outcomes.Window(0, window["date_from"], window["date_to"])
        else:
            win = outcomes.Window(window.get("days", 30))
        mine = await outcomes.performance(conn, ptype, now, win)
        ref = await recompute(conn, ptype, now, **window)
        assert set(mine) == set(ref), ptype
        for version, figures in mine.items():
            expected = ref[version] | {
                "pending": ref[version]["predictions"] - ref[version]["resolved"]
            }
            for field in FIELDS:
                want = expected[field]
                where = (ptype, version, field)
                if want is None:
                    assert figures[field] is None, where
                else:
                    assert figures[field] == pytest.approx(want, rel=1e-9, abs=1e-12), where
            compared += 1
    return compared


async def logged(pool: asyncpg.Pool, records: list[dict[str, Any]], spill: Path) -> None:
    logger = PredictionLogger(pool, spill, batch_size=97, writers=2)
    logger.start()
    for i in range(0, len(records), 50):
        logger.log_many(records[i : i + 50])
    assert await logger.flush(30)
    await logger.close()


async def test_shadow_records_count_for_their_own_market_only(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(5)
    await add_games(conn)
    pool = await create_pool(_dsn(conn), max_size=4)
    try:
        await results(conn, *((g, 2 + i, 7 - i) for i, g in enumerate(GAMES[:6])))
        served, shadows = [], []
        for game in GAMES:
            at = first_pitch(game) - timedelta(hours=2)
            for _ in range(3):  # a game served three times, each scored by both challengers
                champion = record(rng, game, at, ("1", "1"))
                home = record(rng, game, at, ("2", "1")) | {"shadow": True, "model_version": "2"}
                total = record(rng, game, at, ("1", "3")) | {
                    "shadow": True, "model_name": "firstpitch-total-over", "model_version": "3"
                }  # fmt: skip
                total["total_over_probability"] = rng.uniform(0.35, 0.65)
                home["total_over_probability"] = champion["total_over_probability"]
                served.append(champion)
                shadows += [home, total]
        await logged(pool, served + shadows, tmp_path / "a")
        await outcomes.resolve(conn)
        assert await agree(conn) == 4  # moneyline 1 and 2, total 1 and 3
        counts = {
            (r["prediction_type"], r["model_version"]): (r["n"], r["logged"])
            for r in await conn.fetch(
                "SELECT prediction_type, model_version, count(*) AS n, sum(logged) AS logged"
                " FROM prediction_outcomes GROUP BY 1, 2"
            )
        }
        assert counts == {(t, v): (8, 24) for t, v in
                          (("moneyline", "1"), ("moneyline", "2"), ("total", "1"),
                           ("total", "3"))}  # fmt: skip
        shadow_ids = {r["record_id"] for r in shadows}
        latest = await conn.fetch(
            "SELECT prediction_type, model_version, record_id::text FROM prediction_outcomes"
        )
        for row in latest:  # the champions' latest records are their own, never a shadow
            assert (row["record_id"] in shadow_ids) == (row["model_version"] in {"2", "3"}), row
    finally:
        await pool.close()


async def test_outcomes_equal_a_recomputation_however_things_arrive(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(11)
    await add_games(conn)
    pool = await create_pool(_dsn(conn), max_size=4)
    try:
        # results of two games arrive before any prediction of them is logged
        await results(conn, (GAMES[0], 5, 3), (GAMES[1], 2, 6))
        await logged(pool, predictions(rng, GAMES, 1500), tmp_path / "a")
        assert await outcomes.resolve(conn) > 0
        assert await agree(conn) == 4  # two versions of each type
        # more results, and a correction that turns one game around
        corrected = await results(conn, (GAMES[0], 3, 5), (GAMES[2], 7, 1), (GAMES[3], 4, 4 + 1))
        assert corrected["corrected_games"] == [GAMES[0]]
        await outcomes.resolve(conn)  # each step is checked alone: nothing else requeues it
        assert await agree(conn) == 4
        # predictions logged after their game's result (one of a new version), some older
        # than the latest already counted
        late = predictions(rng, GAMES[:4], 300)
        late.append(record(rng, GAMES[2], first_pitch(GAMES[2]), ("4", "3")))
        await logged(pool, late, tmp_path / "b")
        # the same moment twice, in two writes: the greater record id is the latest
        tie = [record(rng, GAMES[3], first_pitch(GAMES[3]), ("4", "3")) for _ in range(2)]
        await logged(pool, tie[:1], tmp_path / "c")
        await outcomes.resolve(conn)
        await logged(pool, tie[1:], tmp_path / "c")
        await outcomes.resolve(conn)
        latest_id = await conn.fetchval(
            "SELECT record_id FROM prediction_outcomes WHERE prediction_type = 'moneyline'"
            " AND model_version = '4' AND game_id = $1", GAMES[3])  # fmt: skip
        assert str(latest_id) == max(t["record_id"] for t in tie)
        # a spill replay: 150 records already logged and 100 new ones
        fresh = predictions(rng, GAMES, 100)
        spill = tmp_path / "spill"
        spill.mkdir()
        (spill / "spill-replay.copy").write_bytes(b"".join(encode(r) for r in late[:150] + fresh))
        await PredictionLogger(pool, spill)._replay()
        await outcomes.resolve(conn)
        assert await agree(conn) == 5
        # a closing quote from another source arrives late (it becomes the last one)
        await conn.execute(
            "INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price,"
            " away_price) VALUES ($1, 'moneyline', 'zz-book', $2, -170, 150)",
            GAMES[2], first_pitch(GAMES[2]),
        )  # fmt: skip
        await outcomes.resolve(conn)
        assert await agree(conn) == 5
        await results(conn, *((g, 6, 2) for g in GAMES[4:]))
        await outcomes.resolve(conn)
        assert await conn.fetchval("SELECT count(*) FROM prediction_log") == 1500 + 301 + 2 + 100
        assert await agree(conn) == 5
        # the clock pinned between the two days: the second day's results are not known yet
        early = first_pitch(GAMES[4]) + timedelta(hours=1)
        assert await agree(conn, early, days=5) == 5
        assert await agree(conn, days=4) == 5
        day1: dict[str, Any] = {"date_from": date(2021, 7, 4), "date_to": date(2021, 7, 4)}
        assert await agree(conn, **day1) == 5
        # every record of every version counted exactly once, by the latest one per game
        for ptype, col in (("moneyline", "home_model_version"), ("total", "total_model_version")):
            for version, n in await conn.fetch(
                f"SELECT {col}, count(*) FROM prediction_log GROUP BY 1"
            ):
                assert await outcomes.total_logged(conn, ptype, version) == n
        # resolving again finds nothing and changes nothing
        before = await conn.fetch("SELECT * FROM prediction_outcomes ORDER BY 1, 2, 3")
        assert await outcomes.resolve(conn) == 0
        assert await conn.fetch(
            "SELECT * FROM prediction_outcomes ORDER BY 1, 2, 3") == before  # fmt: skip
        # the closing snapshot that arrived late is the one CLV uses
        closing = await conn.fetchval(
            "SELECT closing_decimal FROM prediction_outcomes WHERE game_id = $1 AND "
            "prediction_type = 'moneyline' AND recommendation ->> 'side' = 'home' "
            "AND recommendation ->> 'recommended' = 'true' LIMIT 1", GAMES[2])  # fmt: skip
        assert closing in (None, pytest.approx(1 + 100 / 170))
    finally:
        await pool.close()


async def _outcome_rows(conn: asyncpg.Connection) -> dict[tuple[str, str, str], Any]:
    rows = await conn.fetch("SELECT * FROM prediction_outcomes")
    return {(r["prediction_type"], r["model_version"], r["game_id"]): r for r in rows}


async def test_a_fold_recomputes_the_games_whose_answers_changed_and_only_those(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(17)
    await add_games(conn)
    pool = await create_pool(_dsn(conn), max_size=3)
    try:
        await results(conn, *((g, 5, 3) for g in GAMES[:4]))
        assert await outcomes.resolve(conn) > 0  # the games' facts, before any prediction
        first = [record(rng, g, first_pitch(g) - timedelta(hours=3), ("1", "1")) for g in GAMES]
        await logged(pool, first, tmp_path / "a")
        await outcomes.resolve(conn)  # new keys of games already final: resolved at once
        assert await agree(conn) == 2
        held = await _outcome_rows(conn)
        assert sum(r["y"] is not None for r in held.values()) == 8  # 4 games, both markets

        def later(r: dict[str, Any], hours: int, **changes: Any) -> dict[str, Any]:
            at = (first_pitch(r["game_id"]) - timedelta(hours=hours)).isoformat()
            return r | {"record_id": new_record_id(), "predicted_at": at} | changes

        # the same answers asked for again: counted, the latest record moves, the outcomes
        # stay as they were (not recomputed: resolved_at is the fold's own time)
        again = [later(r, 2) for r in first]
        await logged(pool, again, tmp_path / "b")
        await outcomes.resolve(conn)
        assert await agree(conn) == 2
        now = await _outcome_rows(conn)
        for key, row in now.items():
            assert row["logged"] == 2, key
            assert str(row["record_id"]) in {r["record_id"] for r in again}, key
            assert row["resolved_at"] == held[key]["resolved_at"], key
        # a later answer that differs (one game's home probability): that game is recomputed
        turned = later(again[0], 1, home_ml_probability=1 - again[0]["home_ml_probability"])
        await logged(pool, [turned], tmp_path / "c")
        # queued as before migration 0015 (a row a key, no record id): the resolver
        # searches the log
        await conn.execute(PRE_0015_QUEUE)
        await outcomes.resolve(conn)
        assert await agree(conn) == 2
        last = await _outcome_rows(conn)
        recomputed = {k for k, r in last.items() if r["resolved_at"] != now[k]["resolved_at"]}
        assert recomputed == {(t, "1", GAMES[0]) for t in ("moneyline", "total")}
        assert last[("moneyline", "1", GAMES[0])]["probability"] == turned["home_ml_probability"]
    finally:
        await pool.close()


async def test_a_statement_queues_one_row_and_a_backlog_folds_across_folds(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(23)
    await add_games(conn)
    await outcomes.resolve(conn)  # the games' own markers
    pool = await create_pool(_dsn(conn), max_size=3)
    try:
        statements = [predictions(rng, GAMES, 200) for _ in range(3)]
        for i, records in enumerate(statements):  # one COPY each
            logger = PredictionLogger(pool, tmp_path / str(i), batch_size=2000, writers=1)
            logger.start()
            logger.log_many(records)
            assert await logger.flush(30)
            await logger.close()
        assert await conn.fetchval("SELECT count(*) FROM prediction_outcome_batches") == 3
        keys = [
            sum(
                len({(r["game_id"], r[f"{m}_model_version"]) for r in rs})
                for m in ("home", "total")
            )
            for rs in statements
        ]
        assert await outcomes.queued(conn) == sum(keys)
        # a fold of one key still takes a whole statement; resolve() folds until none is left
        assert await conn.fetchval("SELECT outcomes_resolve(1)") == keys[0]
        assert await conn.fetchval("SELECT count(*) FROM prediction_outcome_batches") == 2
        assert await outcomes.resolve(conn, batch=1) == keys[1] + keys[2]
        assert await outcomes.queued(conn) == 0
        assert await agree(conn) == 4
        logged_ml = await conn.fetchval(
            "SELECT sum(logged) FROM prediction_outcomes WHERE prediction_type = 'moneyline'")  # fmt: skip
        assert logged_ml == 600
    finally:
        await pool.close()


async def test_recent_predictions_come_from_the_outcomes(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(5)
    await add_games(conn)
    pool = await create_pool(_dsn(conn), max_size=3)
    try:
        await logged(pool, predictions(rng, GAMES, 400), tmp_path)
        await results(conn, (GAMES[0], 4, 1))
        await outcomes.resolve(conn)
        rows = await outcomes.recent(conn, "moneyline", "2", NOW, 30, 100, finished_only=False)
        ref = await recompute(conn, "moneyline", NOW)
        assert len(rows) == ref["2"]["predictions"]
        assert [r["predicted_at"] for r in rows] == sorted((r["predicted_at"] for r in rows),
                                                           reverse=True)  # fmt: skip
        final = {r["game_id"]: r for r in rows if r["y"] is not None}
        assert set(final) == {GAMES[0]} and final[GAMES[0]]["y"] == 1
        assert final[GAMES[0]]["home_score"] == 4
        finished = await outcomes.recent(conn, "moneyline", "2", NOW, 30, 100, finished_only=True)
        assert [r["game_id"] for r in finished] == [GAMES[0]]
        # under a clock before the result was known, the game is not finished
        before = first_pitch(GAMES[0]) + timedelta(hours=1)
        assert await outcomes.recent(conn, "moneyline", "2", before, 30, 100, True) == []
    finally:
        await pool.close()


async def test_racing_writers_results_and_resolvers_count_each_record_once(
    scratch_db: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = scratch_db, random.Random(3)
    await add_games(conn)
    pool = await create_pool(_dsn(conn), max_size=6)
    stop = asyncio.Event()

    async def resolver() -> int:
        rounds = 0
        async with pool.acquire() as c:
            while not stop.is_set():
                await outcomes.resolve(c)
                rounds += 1
        return rounds

    async def feeder() -> None:
        async with pool.acquire() as c:
            for i in range(40):
                home = 3 + i % 5
                await results(c, (GAMES[i % len(GAMES)], home, home + 1 if i % 2 else home - 2))
                await asyncio.sleep(0.01)

    try:
        resolvers = [asyncio.create_task(resolver()) for _ in range(2)]
        await asyncio.gather(logged(pool, predictions(rng, GAMES, 6000), tmp_path), feeder())
        stop.set()
        assert min(await asyncio.gather(*resolvers)) > 1
        await outcomes.resolve(conn)
        assert await agree(conn) == 4
    finally:
        await pool.close()


@pytest.fixture
async def before_outcomes(servers: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A database migrated up to 0005: one that holds a log from before outcomes existed."""
    admin = await connect(servers[0])
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await connect(servers[0].rsplit("/", 1)[0] + f"/{name}")
    await migrate(conn, [m for m in load_migrations() if m.version <= 5])
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_migration_resolves_an_existing_log_once(
    before_outcomes: asyncpg.Connection, tmp_path: Path
) -> None:
    conn, rng = before_outcomes, random.Random(8)
    await add_games(conn)
    await results(conn, (GAMES[0], 5, 3), (GAMES[1], 1, 2), (GAMES[4], 9, 8))
    # as that version's writer logged them: its columns, before the replay columns (0009)
    old = lr.COLUMNS[: lr.LEGACY_FIELDS]
    lines = "".join(
        "\t".join(lr._field(r.get(c)) for c in old) + "\n" for r in predictions(rng, GAMES, 900)
    )
    source: Any = memoryview(lines.encode())
    await conn.copy_to_table("prediction_log", source=source, columns=old)
    assert await migrate(conn) >= 1
    assert await outcomes.queued(conn) == 0
    assert await agree(conn) == 4
    assert await outcomes.resolve(conn) == 0
    total = await conn.fetchval(
        "SELECT sum(logged) FROM prediction_outcomes WHERE prediction_type = 'moneyline'")  # fmt: skip
    assert total == 900
