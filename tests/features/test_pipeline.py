"""Point-in-time correctness: online == offline, and nothing after the cutoff leaks in."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import numpy as np
import polars as pl
import pytest

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from features.live import LiveFeatures
from features.online import UnknownGames, compute_frame, compute_vectors
from features.pipeline import build_features
from features.source import load_games, load_history, with_cutoffs
from storage.postgres import connect

# A mid-season game, a doubleheader pair, a season opener, a postseason game, a 2005 opener.
GAMES = [
    "TBA201907040",
    "BOS201904232",
    "BOS201904231",
    "CHN202104010",
    "HOU201910300",
    "SEA200504040",
]


@pytest.fixture(scope="module")
async def offline(ingested: str) -> pl.DataFrame:
    conn = await connect(ingested)
    try:
        frame, _ = await compute_frame(conn, cutoff_minutes=60)
    finally:
        await conn.close()
    return frame


@pytest.fixture
async def conn(ingested: str) -> asyncpg.Connection:
    connection = await connect(ingested)
    yield connection
    await connection.close()


def _row(frame: pl.DataFrame, game_id: str) -> np.ndarray:
    return frame.filter(pl.col("game_id") == game_id).select(FEATURE_NAMES).to_numpy()[0]


async def test_full_frame_has_every_game_and_dozens_of_features(offline: pl.DataFrame) -> None:
    assert offline.height > 47_000
    assert len(FEATURE_NAMES) >= 48
    assert offline["as_of"].null_count() <= 1  # only the very first game has no history
    late = offline.filter(pl.col("as_of") > pl.col("cutoff"))
    assert late.height == 0


async def test_online_vectors_equal_offline_rows_bit_for_bit(
    offline: pl.DataFrame, conn: asyncpg.Connection
) -> None:
    sample = GAMES + offline.sample(150, seed=7)["game_id"].to_list()
    vectors = await compute_vectors(conn, sample, cutoff_minutes=60)
    for game_id in sample:
        online = vectors[game_id]
        assert online.feature_version == FEATURE_VERSION
        assert online.as_of <= online.cutoff
        assert np.array_equal(online.values, _row(offline, game_id), equal_nan=True), game_id


async def test_one_game_at_a_time_from_the_live_state_equals_the_offline_rows(
    offline: pl.DataFrame, conn: asyncpg.Connection
) -> None:
    """What a miss asks for: one game. One-row frames take other Polars kernels than the
    offline frame's (a literal divisor, a broadcast join value); the bytes must not move."""
    live = LiveFeatures(60)
    # The first three differed in their elo_home_prob (by one bit) before it was made exact.
    picked = ["NYN201104240", "KCA202105090", "TEX201607080", *GAMES]
    sample = picked + offline.sample(80, seed=13)["game_id"].to_list()
    for game_id in sample:
        vector = (await live.vectors(conn, [game_id], now=None))[game_id]
        assert np.array_equal(vector.values, _row(offline, game_id), equal_nan=True), game_id
    assert live.rebuilds == 1


async def test_unknown_game_is_a_typed_error(conn: asyncpg.Connection) -> None:
    with pytest.raises(UnknownGames, match="XXX201901010"):
        await compute_vectors(conn, ["XXX201901010"], cutoff_minutes=60)


async def _vector(conn: asyncpg.Connection, game_id: str) -> np.ndarray:
    return (await compute_vectors(conn, [game_id], cutoff_minutes=60))[game_id].values


async def test_post_cutoff_changes_leave_the_vector_unchanged(conn: asyncpg.Connection) -> None:
    game_id = "TBA201907040"
    before = await _vector(conn, game_id)
    tx = conn.transaction()
    await tx.start()
    try:
        # Its own result, its closing line, and every game that finished after its cutoff.
        await conn.execute(
            "UPDATE game_results SET home_score = home_score + 7, away_h = 30 WHERE game_id = $1",
            game_id,
        )
        await conn.execute(
            "UPDATE odds SET close_ml_home = -900, close_ml_away = 700, "
            "close_total = 20 WHERE game_id = $1",
            game_id,
        )
        await conn.execute(
            "UPDATE odds_snapshots s SET home_price = -900, away_price = 700 FROM games g "
            "WHERE s.game_id = $1 AND g.game_id = s.game_id AND s.observed_at >= g.scheduled_start",
            game_id,
        )
        cutoff = await conn.fetchval(
            "SELECT scheduled_start - interval '60 minutes' FROM games WHERE game_id = $1", game_id
        )
        # A live quote seen after the cutoff (but before first pitch) is not known in time.
        await conn.execute(
            "INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price, "
            "away_price) VALUES ($1, 'moneyline', 'a-live-book', $2, -400, 300)",
            game_id,
            cutoff + timedelta(minutes=10),
        )
        await conn.execute(
            "UPDATE game_results SET home_score = 0, away_score = 11 "
            "WHERE known_at > $1 AND game_id LIKE 'TBA2019%'",
            cutoff,
        )
        await conn.execute(
            "DELETE FROM games g USING game_results r WHERE g.game_id = r.game_id "
            "AND r.known_at > $1 AND g.game_id <> $2 AND g.season = 2019",
            cutoff,
            game_id,
        )
        after = await _vector(conn, game_id)
    finally:
        await tx.rollback()
    assert np.array_equal(before, after, equal_nan=True)


async def test_pre_cutoff_changes_do_change_the_vector(conn: asyncpg.Connection) -> None:
    game_id = "TBA201907040"
    before = await _vector(conn, game_id)
    tx = conn.transaction()
    await tx.start()
    try:
        previous = await conn.fetchval(
            "SELECT g.game_id FROM games g JOIN game_results r USING (game_id) "
            "WHERE (g.home_team = 'NYA' OR g.away_team = 'NYA') AND g.game_date = '2019-07-03'"
        )
        await conn.execute(
            "UPDATE game_results SET home_score = home_score + 9 WHERE game_id = $1", previous
        )
        changed_result = await _vector(conn, game_id)
        await conn.execute(
            "UPDATE game_results SET home_score = home_score - 9 WHERE game_id = $1", previous
        )
        await conn.execute(  # the opening quote is the first snapshot before first pitch
            "UPDATE odds_snapshots s SET home_price = -250, away_price = 210 FROM games g "
            "WHERE s.game_id = $1 AND g.game_id = s.game_id AND s.market = 'moneyline' "
            "AND s.observed_at < g.scheduled_start",
            game_id,
        )
        changed_line = await _vector(conn, game_id)
    finally:
        await tx.rollback()
    differs = ~np.isclose(before, changed_result, equal_nan=True)
    assert differs.any()
    names = {FEATURE_NAMES[i] for i in np.flatnonzero(differs)}
    assert {"away_form_rd_10", "elo_away"} <= names
    line = {
        FEATURE_NAMES[i] for i in np.flatnonzero(~np.isclose(before, changed_line, equal_nan=True))
    }
    assert line == {"mkt_home_prob_open", "mkt_home_prob"}  # the only snapshot: open = current


async def test_truncating_history_at_each_cutoff_changes_nothing(
    conn: asyncpg.Connection, offline: pl.DataFrame
) -> None:
    """For random games: drop every fact stamped after the cutoff, recompute, compare."""
    history = await load_history(conn)
    targets = with_cutoffs(await load_games(conn), 60)
    picks = targets.sample(12, seed=3)
    for target in picks.iter_rows(named=True):
        cutoff = target["cutoff"]
        kept = history.results.filter(pl.col("known_at") <= cutoff)
        frame = build_features(
            history.games.filter(pl.col("game_id").is_in(kept["game_id"].implode())),
            kept,
            history.snapshots.filter(pl.col("observed_at") <= cutoff),
            history.announced.filter(pl.col("known_at") <= cutoff),
            picks.filter(pl.col("game_id") == target["game_id"]),
        )
        assert np.array_equal(
            _row(frame, target["game_id"]), _row(offline, target["game_id"]), equal_nan=True
        )


async def test_a_now_before_the_cutoff_sees_less(conn: asyncpg.Connection) -> None:
    """Before the cutoff the vector is as of now: yesterday's result is in, not today's."""
    game_id = "TBA201907040"
    at_cutoff = (await compute_vectors(conn, [game_id], cutoff_minutes=60))[game_id]
    early = at_cutoff.cutoff - timedelta(days=1)
    earlier = (await compute_vectors(conn, [game_id], cutoff_minutes=60, now=early))[game_id]
    assert earlier.as_of <= early < at_cutoff.cutoff
    assert earlier.horizon == early
    assert not np.array_equal(earlier.values, at_cutoff.values, equal_nan=True)
