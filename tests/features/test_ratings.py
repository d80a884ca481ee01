"""Player ratings: the per-game update, the incremental fold, and that no result leaks."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from features.lineups import LINEUP_FEATURES, lineup_features
from features.ratings import (
    BAT_PRIOR,
    REVERT,
    SP_PRIOR,
    RatingState,
    carried,
    finished_games,
    fold,
    rating_timelines,
)
from features.source import load_games, load_history, with_cutoffs
from storage.postgres import connect

UTC_US = pl.Datetime("us", "UTC")
TEAMS = ("AAA", "BBB", "CCC", "DDD")


def _season(seed: int, days: int = 60, seasons: tuple[int, ...] = (2030, 2031)
            ) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
    """Synthetic games (two a day) and results with lineups of each team's own players."""
    rng = random.Random(seed)
    roster = {t: [f"{t.lower()}{i:02d}" for i in range(12)] for t in TEAMS}
    games, results = [], []
    for season in seasons:
        for day in range(days):
            start = datetime(season, 4, 1, 23, 5, tzinfo=UTC) + timedelta(days=day)
            order = rng.sample(TEAMS, 4)
            for n, (home, away) in enumerate((order[:2], order[2:])):
                gid = f"{home}{start:%Y%m%d}{n}"
                games.append(
                    {
                        "game_id": gid,
                        "season": season,
                        "game_date": date(season, 4, 1) + timedelta(days=day),
                        "park_id": f"{home}01",
                        "home_team": home,
                        "away_team": away,
                        "home_sp_id": f"{home.lower()}sp{day % 5}",
                        "away_sp_id": f"{away.lower()}sp{day % 5}",
                        "home_lineup": rng.sample(roster[home], 9),
                        "away_lineup": rng.sample(roster[away], 9),
                        "scheduled_start": start + timedelta(minutes=n),
                    }
                )
                results.append(
                    {
                        "game_id": gid,
                        "known_at": start + timedelta(hours=3, minutes=n),
                        "home_score": rng.randint(0, 11),
                        "away_score": rng.randint(0, 11),
                    }
                )
    g = pl.DataFrame(games).with_columns(pl.col("scheduled_start").cast(UTC_US))
    r = pl.DataFrame(results).with_columns(pl.col("known_at").cast(UTC_US))
    return g, r


def test_folding_one_result_at_a_time_equals_the_batch_build() -> None:
    games, results = _season(1)
    batch, batch_state = rating_timelines(games, results)
    ordered = results.sort(["known_at", "game_id"])
    state = RatingState()
    parts = []
    for i in range(ordered.height):
        part, state = rating_timelines(games, ordered.slice(i, 1), state)
        parts.append(part)
    assert state == batch_state
    for name in ("batters", "pitchers", "teams", "parks"):
        folded = pl.concat([getattr(p, name) for p in parts])
        assert folded.equals(getattr(batch, name)), name


def test_a_prefix_of_results_gives_a_prefix_of_the_timeline() -> None:
    games, results = _season(2)
    full, _ = rating_timelines(games, results)
    cut = results["known_at"].sort()[results.height // 2]
    early, _ = rating_timelines(games, results.filter(pl.col("known_at") <= cut))
    for name in ("batters", "pitchers", "teams", "parks"):
        mine = getattr(early, name)
        assert mine.height > 0
        assert getattr(full, name).head(mine.height).equals(mine), name


def test_runs_move_batters_up_and_the_opposing_starter_down() -> None:
    state = RatingState()
    lineup_a = [f"a{i}" for i in range(9)]
    lineup_b = [f"b{i}" for i in range(9)]
    state.bat["a0"] = [0.0, 0.05, 2030]  # a veteran: small variance, learns slowly
    state.update((2030, "P1", "AAA", "BBB", lineup_a, lineup_b, "spa", "spb", 12, 1))
    assert all(state.bat[p][0] > BAT_PRIOR[0] for p in lineup_a[1:])
    assert all(state.bat[p][0] < BAT_PRIOR[0] for p in lineup_b)
    assert state.sp["spb"][0] > SP_PRIOR[0]  # allowed 12: worse run prevention
    assert state.sp["spa"][0] < SP_PRIOR[0]
    newcomer_move = state.bat["a1"][0] - BAT_PRIOR[0]
    assert 0 < state.bat["a0"][0] < newcomer_move
    assert state.bat["a1"][1] < BAT_PRIOR[1]  # one game's evidence narrows the variance


def test_between_seasons_a_rating_moves_back_toward_its_prior() -> None:
    assert carried(1.0, 2030, 2030, 0.0) == 1.0
    assert carried(1.0, 2030, 2031, 0.0) == pytest.approx(1 - REVERT)
    state = RatingState()
    state.sp["x"] = [1.0, 0.1, 2030]
    entry = state._current(state.sp, "x", 2031, SP_PRIOR)
    assert entry[0] == pytest.approx(SP_PRIOR[0] + (1.0 - SP_PRIOR[0]) * (1 - REVERT))
    assert 0.1 < entry[1] <= SP_PRIOR[1]


def test_rested_regulars_show_as_a_weaker_lineup_than_usual() -> None:
    games, results = _season(3, days=40, seasons=(2030,))
    # AAA scores a lot with its usual players; then fields nine players nobody has seen.
    results = results.join(games.select("game_id", "home_team", "away_team"), on="game_id")
    results = results.with_columns(
        pl.when(pl.col("home_team") == "AAA").then(10).otherwise(pl.col("home_score"))
        .alias("home_score"),
        pl.when(pl.col("away_team") == "AAA").then(10).otherwise(pl.col("away_score"))
        .alias("away_score"),
    ).drop("home_team", "away_team")  # fmt: skip
    start = datetime(2030, 6, 1, 23, 5, tzinfo=UTC)
    target = {
        "game_id": "AAA203006010",
        "horizon": start - timedelta(hours=1),
        "season": 2030,
        "park_id": "AAA01",
        "home_team": "AAA",
        "away_team": "BBB",
        "home_sp_id": "aaasp0",
        "away_sp_id": "bbbsp0",
        "home_lineup": [f"new{i}" for i in range(9)],
        "away_lineup": games.filter(pl.col("home_team") == "BBB")["home_lineup"][-1].to_list(),
    }
    regular = target | {"game_id": "AAA203006011", "home_lineup": games.filter(
        pl.col("home_team") == "AAA")["home_lineup"][-1].to_list()}  # fmt: skip
    base = pl.DataFrame([target, regular]).with_columns(pl.col("horizon").cast(UTC_US))
    timelines, _ = rating_timelines(games, results)
    out = lineup_features(base, timelines).sort("game_id")
    rested, usual = out.row(0, named=True), out.row(1, named=True)
    assert rested["home_lineup_off"] == pytest.approx(BAT_PRIOR[0])
    assert usual["home_lineup_off"] > 0.1
    assert rested["home_lineup_vs_usual"] < -0.1
    assert rested["home_lineup_vs_usual"] < usual["home_lineup_vs_usual"] - 0.1
    assert rested["exp_runs_home"] < usual["exp_runs_home"]
    assert rested["rating_home_prob"] < usual["rating_home_prob"]
    assert rested["ratings_as_of"] <= target["horizon"]


async def test_a_games_ratings_never_use_its_own_or_later_results(ingested: str) -> None:
    """Changing the target's own result, and every later one, leaves its ratings unchanged;
    the same change does move a later game's (so the check can fail)."""
    conn = await connect(ingested)
    try:
        history = await load_history(conn)
        games, results = history.games, history.results
        targets = with_cutoffs(
            await load_games(conn, game_ids=["TBA201907040", "TBA201907050"]), 60
        ).sort("game_id")
    finally:
        await conn.close()
    horizon = targets["horizon"][0]
    later = pl.col("known_at") > horizon
    changed = results.with_columns(
        pl.when(later).then(pl.col("home_score") + 7).otherwise(pl.col("home_score"))
        .alias("home_score")
    )  # fmt: skip
    assert changed.filter(pl.col("game_id") == "TBA201907040")["home_score"].item() != (
        results.filter(pl.col("game_id") == "TBA201907040")["home_score"].item()
    )
    truth, _ = rating_timelines(games, results)
    moved, _ = rating_timelines(games, changed)
    a = lineup_features(targets, truth).sort("game_id")
    b = lineup_features(targets, moved).sort("game_id")
    cols = list(LINEUP_FEATURES)
    assert a.head(1).select(cols).equals(b.head(1).select(cols))
    assert a["ratings_as_of"][0] <= horizon
    assert not a.tail(1).select(cols).equals(b.tail(1).select(cols))


def test_a_fork_folds_on_without_changing_its_parent() -> None:
    games, results = _season(5, days=30, seasons=(2030,))
    ordered = finished_games(games, results)
    parent = RatingState()
    fold(ordered.head(40), parent)
    before = copy.deepcopy(parent)
    child = parent.fork()
    fold(ordered.slice(40), child)
    assert parent == before  # every entry the child changed was copied first
    whole = RatingState()
    fold(ordered, whole)
    assert child == whole
    again = parent.fork()  # a second fork of the same parent gives the same again
    fold(ordered.slice(40), again)
    assert again == whole
