"""The incremental feature state against a real database: facts arrive through the feed's
write path in the order they became known; vectors computed live at each moment equal, bit
for bit, the offline pipeline's over the stored history, also after a corrected result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import polars as pl
import pytest

from features import player_folds
from features.announced import announced_at
from features.arrays import TimelineArrays
from features.definitions import FEATURE_NAMES
from features.live import LiveFeatures, current_lines
from features.online import compute_frame, compute_vectors
from features.pipeline import build_features
from features.source import load_games, load_history, with_cutoffs
from features.state import FeatureState
from features.timelines import Timelines, done_frame
from features.vectors import FeatureVector
from ingest import feed_store
from ingest.feed_records import validate
from ingest.loader import ingest

DAYS = ("2021-07-01", "2021-07-02", "2021-07-03")
STATS = ("h", "hr", "bb", "k", "e", "er")
SKEW = timedelta(minutes=2)


async def feed(conn: asyncpg.Connection, kind: str, records: list[dict[str, Any]],
               now: datetime) -> dict[str, Any]:  # fmt: skip
    if not records:
        return {}
    return (await feed_store.write(conn, kind, validate(kind, records, now, SKEW))).to_dict()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@pytest.fixture
async def db(scratch_db: asyncpg.Connection, data_dir: Path) -> asyncpg.Connection:
    """2021 loaded, with the results of three July days held back (they arrive live)."""
    await ingest(scratch_db, data_dir, {2021})
    return scratch_db


async def _held_back(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT r.* FROM game_results r JOIN games g USING (game_id) "
        "WHERE g.game_date = ANY($1::date[]) AND r.home_score <> r.away_score "
        "ORDER BY r.known_at, r.game_id",
        [datetime.fromisoformat(d).date() for d in DAYS],
    )
    await conn.execute(
        "DELETE FROM game_results WHERE game_id = ANY($1)", [r["game_id"] for r in rows]
    )
    return [
        {
            "game_id": r["game_id"],
            "home_score": r["home_score"],
            "away_score": r["away_score"],
            "known_at": _iso(r["known_at"]),
            "duration_min": r["duration_min"],
            **{f"{s}_{k}": r[f"{s}_{k}"] or 0 for s in ("home", "away") for k in STATS},
        }
        for r in rows
    ]


def _same(a: FeatureVector, b: FeatureVector) -> bool:
    return (
        np.array_equal(a.values, b.values, equal_nan=True)
        and a.as_of == b.as_of
        and a.meta == b.meta
    )


async def test_live_vectors_equal_the_offline_pipeline_bit_for_bit(
    db: asyncpg.Connection,
) -> None:
    results = await _held_back(db)
    games = with_cutoffs(await load_games(db), 60).filter(
        pl.col("game_date").cast(pl.String).is_in(DAYS)
    )
    ids = games["game_id"].to_list()
    first = games["scheduled_start"].min()
    assert isinstance(first, datetime)
    # A moving line for every game, seen two hours before first pitch (before the cutoff).
    moves = [
        {"game_id": g["game_id"], "market": "moneyline", "source": "book-live",
         "observed_at": _iso(g["scheduled_start"] - timedelta(hours=2)),
         "home_price": -140 - i % 40, "away_price": 120 + i % 30}
        for i, g in enumerate(games.iter_rows(named=True))
    ]  # fmt: skip
    scratched = games.row(5, named=True)  # a late change of starter, and its lineup
    late = scratched["scheduled_start"] - timedelta(minutes=90)
    pitcher = await db.fetchval(
        "SELECT away_sp_id FROM games WHERE game_id = $1", games.row(6, named=True)["game_id"]
    )
    live, other_worker = LiveFeatures(60), LiveFeatures(60)
    await live.state(db)  # built before anything arrives
    moments = [first - timedelta(hours=20) + timedelta(hours=6 * k) for k in range(16)]
    seen: list[tuple[datetime, dict[str, FeatureVector]]] = []
    fed: set[tuple[str, int]] = set()
    for now in moments:
        for kind, records, at in (("results", results, "known_at"), ("odds", moves, "observed_at")):
            due = [i for i, r in enumerate(records)
                   if (kind, i) not in fed and datetime.fromisoformat(r[at]) <= now]  # fmt: skip
            fed |= {(kind, i) for i in due}
            await feed(db, kind, [records[i] for i in due], now)
        if late <= now and ("starter", 0) not in fed:
            fed.add(("starter", 0))
            await feed(db, "starters", [{"game_id": scratched["game_id"], "side": "home",
                                         "pitcher_id": pitcher, "known_at": _iso(late)}], now)  # fmt: skip
        seen.append((now, await live.vectors(db, ids, now=now)))
    assert len(fed) == len(results) + len(moves) + 1 and live.rebuilds == 1
    # Another worker, built later, agrees with the one that followed along.
    final = await other_worker.vectors(db, ids, now=moments[-1])
    assert all(_same(final[g], seen[-1][1][g]) for g in ids)

    # Offline, afterwards, from the stored history: the same bytes at every moment.
    history = await load_history(db)
    checked = 0
    for now, vectors in seen:
        targets = with_cutoffs(await load_games(db, game_ids=ids), 60, now)
        frame = build_features(history.games, history.results, history.snapshots,
                               history.announced, targets)  # fmt: skip
        for row in frame.iter_rows(named=True):
            online = vectors[row["game_id"]]
            offline = np.array([row[n] for n in FEATURE_NAMES], dtype=np.float64)
            assert np.array_equal(online.values, offline, equal_nan=True), (now, row["game_id"])
            checked += 1
        peer = await compute_vectors(db, ids, cutoff_minutes=60, now=now)
        assert all(_same(peer[g], vectors[g]) for g in ids)
    assert checked == len(ids) * len(moments)
    # What arrived shows: results moved the state, the live line and the late starter count.
    at_end = seen[-1][1]
    moved = FEATURE_NAMES.index("mkt_home_prob_move")
    assert sum(not np.isnan(v.values[moved]) and v.values[moved] != 0 for v in at_end.values()) > 10
    targets = with_cutoffs(await load_games(db, game_ids=[scratched["game_id"]]), 60)
    for now, starter in ((late - timedelta(minutes=1), scratched["home_sp_id"]), (late, pitcher)):
        at = announced_at(targets.with_columns(pl.lit(now).alias("horizon")), history.announced)
        assert at["home_sp_id"].to_list() == [starter]
    lines = await current_lines(db, [scratched["game_id"]], scratched["scheduled_start"])
    assert lines[scratched["game_id"]].ml_seen_at == scratched["scheduled_start"]  # closing

    # A corrected result: the state is built afresh and agrees with the offline frame.
    fixed = dict(results[0], home_score=results[0]["home_score"] + 5)
    if fixed["home_score"] == fixed["away_score"]:
        fixed["home_score"] += 1
    out = await feed(db, "results", [fixed], moments[-1])
    assert out["corrected_games"] == [fixed["game_id"]]
    after = await live.vectors(db, ids, now=None)
    assert live.rebuilds == 2
    frame, _ = await compute_frame(db, cutoff_minutes=60)
    frame = frame.filter(pl.col("game_id").is_in(ids))
    changed = 0
    for row in frame.iter_rows(named=True):
        offline = np.array([row[n] for n in FEATURE_NAMES], dtype=np.float64)
        assert np.array_equal(after[row["game_id"]].values, offline, equal_nan=True)
        changed += not np.array_equal(
            after[row["game_id"]].values, seen[-1][1][row["game_id"]].values, equal_nan=True
        )
    assert changed > 0


async def test_folding_results_in_gives_the_timelines_of_a_build(
    db: asyncpg.Connection,
) -> None:
    """The fold property itself: a state built on part of the history, then given the rest
    in batches (some out of known-time order), equals a state built on all of it."""
    history = await load_history(db)
    done = done_frame(history.games, history.results)
    cut = done.height - 300
    state = FeatureState.build(history.games, history.results.filter(
        pl.col("game_id").is_in(done["game_id"].head(cut).implode())), 0)  # fmt: skip
    rest = done.slice(cut)
    batches = [rest.slice(0, 100), rest.slice(150, 150), rest.slice(100, 50)]  # late one last
    for batch in batches:
        folded = state.apply(history.games, history.results.filter(
            pl.col("game_id").is_in(batch["game_id"].implode())), 0)  # fmt: skip
        assert folded is not None
        state = folded
    whole = Timelines.build(done)
    for name in ("teams", "pitchers", "parks", "league", "ratings"):
        mine, theirs = getattr(state.timelines, name), getattr(whole, name)
        key = {"teams": "team", "pitchers": "pitcher", "parks": "park_id"}.get(name)
        if key:  # the rows of a key move to the end when it is recomputed
            mine, theirs = mine.sort(key, "known_at"), theirs.sort(key, "known_at")
        assert mine.equals(theirs), name
    _same_players(state.timelines, whole)
    _same_arrays(state.arrays, TimelineArrays.build(whole))
    again = state.apply(history.games, history.results.head(10), 0)
    assert again is not None and again.done.height == done.height  # seen before: skipped
    other = history.results.head(1).with_columns(pl.col("home_score") + 3)
    assert state.apply(history.games, other, 0) is None  # a correction: build afresh


def _same_arrays(mine: TimelineArrays, whole: TimelineArrays) -> None:
    """The numpy columns the lookups read equal those of arrays built from scratch."""
    for name in ("teams", "pitchers", "parks"):
        a, b = getattr(mine, name), getattr(whole, name)
        assert a.keys() == b.keys(), name
        for key in a:
            assert a[key].keys() == b[key].keys()
            assert all(np.array_equal(a[key][c], b[key][c]) for c in a[key]), (name, key)
    pairs = [(mine.league.cols, whole.league.cols)] + [
        (getattr(mine, n).cols, getattr(whole, n).cols)
        for n in ("elo", "batters", "rated_pitchers", "rated_teams", "rated_parks")
    ]
    for a, b in pairs:
        assert a.keys() == b.keys()
        assert all(a[c].dtype == b[c].dtype and np.array_equal(a[c], b[c]) for c in a)


def _same_players(mine: Timelines, whole: Timelines) -> None:
    """The player ratings, their final state and the row indexes equal a build's."""
    for name in ("batters", "pitchers", "teams", "parks"):
        assert getattr(mine.players, name).equals(getattr(whole.players, name)), name
    assert mine.rating_state == whole.rating_state
    assert mine.index is not None and whole.index is not None
    for at, theirs in zip(mine.index, whole.index, strict=True):
        assert at.height == theirs.height and at.rows.keys() == theirs.rows.keys()
        assert all(np.array_equal(at.rows[k], theirs.rows[k]) for k in at.rows)


async def test_results_before_a_later_known_one_fold_on_from_a_checkpoint(
    db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history holding a result known long after the others (a suspended game completed
    months later; a database cut for a replay holds such games): every new result sorts
    before it. They are folded on from a checkpoint, never from scratch, and the state
    equals a build on everything."""
    history = await load_history(db)
    done = done_frame(history.games, history.results)
    cut = done.height - 200
    held = pl.concat([done["game_id"].head(cut), done["game_id"].tail(1)])
    state = FeatureState.build(
        history.games, history.results.filter(pl.col("game_id").is_in(held.implode())), 0
    )
    scratch: list[int] = []
    real = player_folds.build

    def counted(d: pl.DataFrame) -> player_folds.Folded:
        scratch.append(d.height)
        return real(d)

    monkeypatch.setattr(player_folds, "build", counted)
    rest = done.slice(cut, done.height - cut - 1)
    for i in range(0, rest.height, 7):  # a few results at a time, each before the held last
        batch = rest["game_id"].slice(i, 7).implode()
        folded = state.apply(history.games, history.results.filter(
            pl.col("game_id").is_in(batch)), 0)  # fmt: skip
        assert folded is not None
        state = folded
    assert not scratch
    monkeypatch.undo()
    whole = Timelines.build(done)
    _same_players(state.timelines, whole)
    _same_arrays(state.arrays, TimelineArrays.build(whole))
    assert state.timelines.league.equals(whole.league)
    assert state.timelines.ratings.equals(whole.ratings)
