"""The live feed's one validation and write path against the real data (every test's writes
are rolled back): precise refusals, idempotent writes, corrections, and features that
follow what arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from features.market import fair_first
from features.online import compute_vectors
from ingest import feed_store
from ingest.feed_records import FeedError, validate
from storage.postgres import connect

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
SKEW = timedelta(minutes=2)
NEW_GAME = {  # a game no historical file holds: 16:10 local in Cincinnati
    "game_id": "CIN202604010", "home_team": "CIN", "away_team": "CHN", "park_id": "CIN09",
    "scheduled_start": "2026-04-01T20:10:00Z", "known_at": "2026-03-01T00:00:00Z",
}  # fmt: skip
ODDS = {"game_id": "CIN202604010", "market": "moneyline", "source": "book-a",
        "observed_at": "2026-04-01T11:00:00Z", "home_price": -150, "away_price": 130}  # fmt: skip


@pytest.fixture
async def conn(ingested: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(ingested)
    tx = connection.transaction()
    await tx.start()
    try:
        yield connection
    finally:
        await tx.rollback()
        await connection.close()


async def feed(conn: asyncpg.Connection, kind: str, *records: dict[str, Any]) -> dict[str, Any]:
    return (await feed_store.write(conn, kind, validate(kind, list(records), NOW, SKEW))).to_dict()


def problems(kind: str, *records: Any) -> list[dict[str, Any]]:
    with pytest.raises(FeedError) as caught:
        validate(kind, list(records), NOW, SKEW)
    return caught.value.details


def test_bad_records_are_named_by_index_and_field() -> None:
    found = problems(
        "odds",
        ODDS,
        ODDS | {"home_price": -6},  # an impossible price
        ODDS | {"market": "total"},  # a total needs its line and prices
        ODDS | {"observed_at": "2026-04-01T12:05:00Z"},  # beyond the clock's skew
        {k: v for k, v in ODDS.items() if k != "source"},
        ODDS | {"surprise": "<script>"},
        "not an object",
    )
    where = [(p["index"], p["field"]) for p in found]
    assert where == [(1, "home_price"), (2, "line"), (3, "observed_at"), (4, "source"), (5, ""),
                     (6, "")]  # fmt: skip
    assert "<script>" not in str(found) and "surprise" not in str(found)
    assert "not yet knowable" in found[2]["reason"]


def test_a_schedule_must_agree_with_its_game_id() -> None:
    assert problems("schedule", NEW_GAME | {"game_id": "CIN202604020"})[0]["field"] == "game_id"
    assert problems("schedule", NEW_GAME | {"park_id": "XXX99"})[0]["field"] == "park_id"
    late = NEW_GAME | {"known_at": "2026-04-02T00:00:00Z"}
    assert problems("schedule", late)[0]["field"] == "known_at"


async def test_the_same_batch_twice_changes_nothing(conn: asyncpg.Connection) -> None:
    first = await feed(conn, "schedule", NEW_GAME)
    assert (first["inserted"], first["unchanged"]) == (1, 0)
    assert (await feed(conn, "schedule", NEW_GAME))["unchanged"] == 1
    game = await conn.fetchrow("SELECT * FROM games WHERE game_id = 'CIN202604010'")
    assert (game["game_date"].isoformat(), game["day_night"], game["day_of_week"]) == (
        "2026-04-01", "D", "Wed")  # fmt: skip
    assert (await feed(conn, "odds", ODDS))["inserted"] == 1
    assert (await feed(conn, "odds", ODDS))["unchanged"] == 1
    moved = await feed(conn, "odds", ODDS | {"home_price": -160})  # same key, other price
    assert moved["updated"] == 1
    held = await conn.fetchval(
        "SELECT count(*) FROM odds_snapshots WHERE game_id = 'CIN202604010'")  # fmt: skip
    assert held == 1


async def test_a_batch_is_all_or_nothing(conn: asyncpg.Connection) -> None:
    await feed(conn, "schedule", NEW_GAME)
    with pytest.raises(FeedError) as caught:
        await feed(conn, "odds", ODDS, ODDS | {"game_id": "CIN202604020"})  # second unknown
    assert [(d["index"], d["field"]) for d in caught.value.details] == [(1, "game_id")]
    held = await conn.fetchval("SELECT count(*) FROM odds_snapshots WHERE source = 'book-a'")
    assert held == 0


async def test_a_corrected_result_replaces_the_earlier_and_says_so(
    conn: asyncpg.Connection,
) -> None:
    old = await conn.fetchrow("SELECT * FROM game_results WHERE game_id = 'TBA201907040'")
    result = {"game_id": "TBA201907040", "home_score": old["home_score"] + 1,
              "away_score": old["away_score"], "known_at": old["known_at"].isoformat(),
              **{f"{side}_{s}": 1 for side in ("home", "away")
                 for s in ("h", "hr", "bb", "k", "e", "er")}}  # fmt: skip
    if result["home_score"] == result["away_score"]:
        result["home_score"] += 1
    out = await feed(conn, "results", result)
    assert out["updated"] == 1 and out["corrected_games"] == ["TBA201907040"]
    kept = await conn.fetchval(
        "SELECT previous->>'home_score' FROM game_result_corrections WHERE game_id = $1",
        "TBA201907040",
    )
    assert int(kept) == old["home_score"]
    again = await feed(conn, "results", result)
    assert again["unchanged"] == 1 and again["corrected_games"] == []


async def test_status_and_starters_reach_the_game(conn: asyncpg.Connection) -> None:
    await feed(conn, "schedule", NEW_GAME)
    await feed(conn, "starters",
               {"game_id": "CIN202604010", "side": "home", "pitcher_id": "castl003",
                "known_at": "2026-03-30T15:00:00Z"},
               {"game_id": "CIN202604010", "side": "home", "pitcher_id": "grayj003",
                "known_at": "2026-03-31T15:00:00Z"})  # fmt: skip
    assert await conn.fetchval(
        "SELECT home_sp_id FROM games WHERE game_id = 'CIN202604010'") == "grayj003"  # fmt: skip
    new_start = "2026-04-02T17:10:00Z"
    await feed(conn, "status", {"game_id": "CIN202604010", "status": "rescheduled",
                                "scheduled_start": new_start, "reason": "rain",
                                "known_at": "2026-04-01T10:00:00Z"})  # fmt: skip
    game = await conn.fetchrow("SELECT status, scheduled_start FROM games WHERE game_id = $1",
                               "CIN202604010")  # fmt: skip
    assert game["status"] == "rescheduled"
    assert game["scheduled_start"] == datetime(2026, 4, 2, 17, 10, tzinfo=UTC)
    assert problems("status", {"game_id": "CIN202604010", "status": "rescheduled",
                               "known_at": "2026-04-01T10:00:00Z"})[0]["field"] == (
        "scheduled_start")  # fmt: skip


async def test_a_live_game_is_predicted_from_what_the_feed_sent(
    conn: asyncpg.Connection,
) -> None:
    await feed(conn, "schedule", NEW_GAME)
    await feed(conn, "odds", ODDS, ODDS | {"observed_at": "2026-04-01T11:30:00Z",
                                           "home_price": -170, "away_price": 150})  # fmt: skip
    vector = (await compute_vectors(conn, ["CIN202604010"], cutoff_minutes=60, now=NOW))[
        "CIN202604010"
    ]
    # The opening line is the first snapshot; it is in the vector and the game's odds.
    assert vector.meta.open_ml_home == -150 and vector.meta.open_ml_away == 130
    assert vector.features()["mkt_home_prob_open"] == pytest.approx(fair_first(-150, 130))
    assert vector.as_of <= NOW
