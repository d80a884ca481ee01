"""The numpy lookups of a few targets (features/lookup.py) against the Polars ``features_at``
on the same held state, bit for bit, on real games: random 2021 and 2016 games, doubleheaders,
season openers, the postseason and the very first games, at their cutoffs and at earlier
horizons (before the lines, before the starters, exactly at results' known times, before
any history), and on random feeds of announcements and odds snapshots for real games."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import polars as pl
import pytest

from features.definitions import FEATURE_NAMES
from features.facts import Snapshot, Target, load_facts
from features.live import LiveFeatures
from features.online import UnknownGames, load_targets
from features.source import UTC_US, load_announced, load_snapshots
from features.state import FeatureState
from features.vectors import FeatureVector
from storage.postgres import connect

HOURS_BEFORE = (0, 1, 3, 6, 14, 30, 24 * 5, 24 * 60)  # "now" this long before the cutoff
Case = tuple[list[str], datetime | None]


@pytest.fixture(scope="module")
async def conn(ingested: str) -> asyncpg.Connection:
    connection = await connect(ingested)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
async def live(conn: asyncpg.Connection) -> LiveFeatures:
    features = LiveFeatures(60)
    await features.state(conn)
    return features


@pytest.fixture
async def state(conn: asyncpg.Connection, live: LiveFeatures) -> FeatureState:
    return await live.state(conn)


def _identical(a: FeatureVector, b: FeatureVector) -> bool:
    """Same bytes (NaN positions included), times, lines and metadata."""
    return (
        a.values.dtype == b.values.dtype == np.float64
        and a.values.tobytes() == b.values.tobytes()
        and (a.game_id, a.feature_version, a.as_of, a.cutoff, a.horizon, a.meta, a.names)
        == (b.game_id, b.feature_version, b.as_of, b.cutoff, b.horizon, b.meta, b.names)
    )


async def _polars(
    conn: asyncpg.Connection, state: FeatureState, ids: list[str], now: datetime | None
) -> dict[str, FeatureVector]:
    targets = await load_targets(conn, ids, cutoff_minutes=60, now=now)
    announced, snapshots = await load_announced(conn, ids), await load_snapshots(conn, ids)
    return state.vectors(targets, announced, snapshots)


async def _sample(conn: asyncpg.Connection, rng: random.Random) -> list[str]:
    """Random 2021 and 2016 games, and the awkward ones: both games of doubleheaders, each
    season's first games, postseason games, the first games of the history."""

    async def some(where: str, n: int) -> list[str]:
        rows = await conn.fetch(f"SELECT game_id FROM games WHERE {where} ORDER BY game_id")
        return rng.sample([r["game_id"] for r in rows], n)

    picked = await some("season = 2021", 60) + await some("season = 2016", 60)
    picked += await some("game_num > 0", 20) + await some("game_type <> 'regular'", 10)
    firsts = await conn.fetch(
        "SELECT game_id FROM (SELECT game_id, rank() OVER (PARTITION BY season "
        "ORDER BY scheduled_start) AS k FROM games) g WHERE k <= 2"
    )
    picked += rng.sample(sorted(r["game_id"] for r in firsts), 15)
    return list(dict.fromkeys(picked))


async def _cases(conn: asyncpg.Connection, ids: list[str], rng: random.Random) -> list[Case]:
    """Groups of one to four games, each at its cutoff or a shared earlier "now"; and "now"
    exactly at results' known times (several results share some), and before any history."""
    cases: list[Case] = []
    starts = {
        r["game_id"]: r["scheduled_start"]
        for r in await conn.fetch(
            "SELECT game_id, scheduled_start FROM games WHERE game_id = ANY($1)", ids
        )
    }
    order = ids[:]
    rng.shuffle(order)
    while order:
        group = [order.pop() for _ in range(min(len(order), rng.choice((1, 1, 2, 4))))]
        cases.append((group, None))
        for hours in rng.sample(HOURS_BEFORE, 3):
            cutoff = min(starts[g] for g in group) - timedelta(minutes=60)
            cases.append((group, cutoff - timedelta(hours=hours, minutes=rng.randrange(60))))
    tied = await conn.fetch(
        "SELECT known_at FROM game_results GROUP BY known_at HAVING count(*) > 1 ORDER BY 1"
    )
    for row in rng.sample(tied, 12):
        cases.append((rng.sample(ids, 2), row["known_at"]))
    for game in rng.sample(ids, 12):  # the moment the home team's last result became known
        last = await conn.fetchval(
            "SELECT max(r.known_at) FROM game_results r JOIN games g USING (game_id) "
            "WHERE $1 IN (g.home_team, g.away_team) AND r.known_at < $2",
            game[:3], starts[game] - timedelta(minutes=60),
        )  # fmt: skip
        if last is not None:
            cases.append(([game], last))
    cases.append((ids[:5], datetime(2005, 3, 1, tzinfo=UTC)))
    return cases


async def test_lookups_equal_the_polars_path_on_real_games(
    conn: asyncpg.Connection, state: FeatureState
) -> None:
    rng = random.Random(20260101)
    ids = await _sample(conn, rng)
    seen: dict[str, int] = dict.fromkeys(
        (
            "no_line",
            "line",
            "no_starter",
            "starter",
            "no_lineup",
            "lineup",
            "no_history",
            "new_season",
        ),
        0,
    )
    name = {n: FEATURE_NAMES.index(n) for n in FEATURE_NAMES}
    checked = 0
    for group, now in await _cases(conn, ids, rng):
        mine = state.lookup(await load_facts(conn, group, cutoff_minutes=60, now=now))
        theirs = await _polars(conn, state, group, now)
        assert mine.keys() == theirs.keys() == set(group)
        for g in group:
            assert _identical(mine[g], theirs[g]), (g, now)
            v = mine[g].values
            seen["line" if v[name["mkt_has_line"]] else "no_line"] += 1
            seen["starter" if not np.isnan(v[name["home_sp_ra_5"]]) else "no_starter"] += 1
            seen["lineup" if not np.isnan(v[name["home_lineup_off"]]) else "no_lineup"] += 1
            seen["no_history"] += bool(np.isnan(v[name["league_runs_pg"]]))
            seen["new_season"] += v[name["home_std_games"]] == 0.0
            checked += 1
    assert checked > 600
    assert all(n >= 5 for n in seen.values()), seen  # every kind of game was compared


def _feed(rng: random.Random, fact: Target, players: list[str], pitchers: list[str]) -> Target:
    """The game with random announcements (none to three per kind and side, real players
    of other games, short lineups) and random odds snapshots (several sources, equal times,
    missing or invalid prices and lines), all around its cutoff."""

    def around() -> int:
        return fact.cutoff + rng.randrange(-48, 6) * 3_600_000_000

    announced = []
    for side in ("home", "away"):
        for kind in ("starter", "lineup"):
            for at in {around() for _ in range(rng.randrange(4))}:
                who = (rng.sample(pitchers, 1) if kind == "starter"
                       else rng.sample(players, rng.choice((9, 9, 8))))  # fmt: skip
                announced.append((side, kind, " ".join(who), at))
    prices = (None, -110, -150, 130, 45, -250, 210)
    times = [around() for _ in range(4)]
    snapshots: list[Snapshot] = []
    for market in ("moneyline", "total"):
        for source in rng.sample(("book-a", "book-b", "workbook", "Book-C"), rng.randrange(4)):
            for at in set(rng.sample(times, rng.randrange(1, 3))):
                line = rng.choice((None, 7.5, 8.0, 9.5, 10.5))
                pair = (rng.choice(prices), rng.choice(prices))
                snapshots.append(
                    (
                        market,
                        source,
                        at,
                        *((*pair, None, None) if market == "moneyline" else (None, None, *pair)),
                        line,
                    )
                )
    return replace(fact, announced=tuple(announced), snapshots=tuple(snapshots))


def _frames(targets: list[Target]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The announcements and snapshots of ``targets`` as ``features/source.py`` reads them."""
    a: dict[str, list[Any]] = {c: [] for c in ("game_id", "side", "kind", "players", "known_at")}
    s: dict[str, list[Any]] = {
        c: []
        for c in (
            "game_id",
            "market",
            "source",
            "observed_at",
            "home_price",
            "away_price",
            "over_price",
            "under_price",
            "line",
        )
    }
    for t in targets:
        for side, kind, players, at in t.announced:
            for c, x in zip(a, (t.game_id, side, kind, players.split(" "), at), strict=True):
                a[c].append(x)
        for snap in t.snapshots:
            for c, x in zip(s, (t.game_id, *snap), strict=True):
                s[c].append(x)
    announced = pl.DataFrame(
        a,
        schema={
            "game_id": pl.String,
            "side": pl.String,
            "kind": pl.String,
            "players": pl.List(pl.String),
            "known_at": pl.Int64,
        },
    )
    snapshots = pl.DataFrame(
        s,
        schema={
            "game_id": pl.String,
            "market": pl.String,
            "source": pl.String,
            "observed_at": pl.Int64,
            **dict.fromkeys(list(s)[4:8], pl.Int64),
            "line": pl.Float64,
        },
    )
    return (
        announced.with_columns(pl.col("known_at").cast(UTC_US)),
        snapshots.with_columns(pl.col("observed_at").cast(UTC_US)),
    )


async def test_lookups_equal_the_polars_path_on_random_feeds(
    conn: asyncpg.Connection, state: FeatureState
) -> None:
    rng = random.Random(7)
    ids = sorted(
        r["game_id"]
        for r in await conn.fetch("SELECT game_id FROM games WHERE season IN (2016, 2021)")
    )
    real_players = [
        r["p"]
        for r in await conn.fetch(
            "SELECT DISTINCT unnest(home_lineup) AS p FROM games WHERE season = 2021 LIMIT 60"
        )
    ]
    pitchers = [
        r["p"]
        for r in await conn.fetch(
            "SELECT DISTINCT home_sp_id AS p FROM games WHERE season = 2021 LIMIT 40"
        )
    ]
    compared = moved = rated = 0
    for _ in range(120):
        group = rng.sample(ids, rng.choice((1, 2, 3)))
        now = None
        if rng.random() < 0.5:
            now = datetime(2016 if group[0][3:7] == "2016" else 2021, 7, 1, tzinfo=UTC)
        facts = [
            _feed(rng, f, real_players, pitchers)
            for f in await load_facts(conn, group, cutoff_minutes=60, now=now)
        ]
        announced, snapshots = _frames(facts)
        targets = await load_targets(conn, group, cutoff_minutes=60, now=now)
        theirs = state.vectors(targets, announced, snapshots)
        mine = state.lookup(facts)
        for g in group:
            assert _identical(mine[g], theirs[g]), g
            values = mine[g].values
            move = values[FEATURE_NAMES.index("mkt_home_prob_move")]
            moved += bool(not np.isnan(move) and move != 0.0)
            rated += not np.isnan(values[FEATURE_NAMES.index("home_sp_ra_5")])
            compared += 1
    assert compared > 200 and moved > 10 and rated > 20


async def test_live_vectors_of_a_few_games_take_the_lookup_and_agree(
    conn: asyncpg.Connection, live: LiveFeatures
) -> None:
    """Through ``LiveFeatures``: one to four games on the event loop, more in a thread, and
    the same bytes as the Polars path; unknown ids are refused."""
    ids = sorted(
        r["game_id"]
        for r in await conn.fetch("SELECT game_id FROM games WHERE game_date = '2021-07-04'")
    )
    few = await live.vectors(conn, ids[:3], now=None)
    framed = await live.frame_vectors(conn, ids[:3], now=None)
    assert all(_identical(few[g], framed[g]) for g in ids[:3])
    threaded = await live.vectors(conn, ids, now=datetime(2021, 7, 4, 12, tzinfo=UTC))
    framed = await live.frame_vectors(conn, ids, now=datetime(2021, 7, 4, 12, tzinfo=UTC))
    assert len(ids) > 4 and all(_identical(threaded[g], framed[g]) for g in ids)
    with pytest.raises(UnknownGames, match="XXX202107040"):
        await live.vectors(conn, [ids[0], "XXX202107040"], now=None)
    assert live.rebuilds == 1
