"""Team strength ratings, updated game by game in the order results became known.

FiveThirtyEight-style MLB Elo: K = 4, home advantage 24 points, a margin-of-victory
multiplier, and a regression of one third toward 1505 between seasons.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from features.columns import solid

K = 4.0
HOME_ADVANTAGE = 24.0
MEAN = 1505.0
REVERT = 1 / 3


def expected(diff: float) -> float:
    """The home side's expected score at rating difference ``diff`` (home advantage in)."""
    return 1 / (1 + 10 ** (-diff / 400))


def _mov_multiplier(margin: int, winner_diff: float) -> float:
    return math.log(abs(margin) + 1) * 2.2 / (winner_diff * 0.001 + 2.2)


SCHEMA: dict[str, Any] = {
    "team": pl.String,
    "known_at": pl.Datetime("us", "UTC"),
    "r_season": pl.Int64,
    "rating": pl.Float64,
}


def _fold(done: pl.DataFrame, rating: dict[str, float], season_of: dict[str, int]) -> pl.DataFrame:
    """Fold finished games (in known_at order) into ratings that start at ``rating``; one row
    per team per game: the rating after it, at its known_at."""
    rows = done.select(
        "game_id", "known_at", "season", "home_team", "away_team", "home_score", "away_score"
    )
    teams, known, seasons, values = [], [], [], []
    for _gid, at, season, home, away, hs, as_ in rows.iter_rows():
        pre = {}
        for team in (home, away):
            r = rating.get(team, MEAN)
            if team in season_of and season_of[team] != season:
                r = r + (MEAN - r) * REVERT
            pre[team] = r
        diff = pre[home] + HOME_ADVANTAGE - pre[away]
        home_won = hs > as_
        winner_diff = diff if home_won else -diff
        shift = (
            K
            * _mov_multiplier(hs - as_, winner_diff)
            * ((1.0 if home_won else 0.0) - expected(diff))
        )
        rating[home], rating[away] = pre[home] + shift, pre[away] - shift
        for team in (home, away):
            season_of[team] = season
            teams.append(team)
            known.append(at)
            seasons.append(season)
            values.append(rating[team])
    return pl.DataFrame(
        {"team": teams, "known_at": known, "r_season": seasons, "rating": values}, schema=SCHEMA
    )


def rating_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """Every finished game of ``done`` (in (known_at, game_id) order), folded from scratch."""
    return _fold(done, {}, {})


def extend(timeline: pl.DataFrame, done: pl.DataFrame, first: int) -> pl.DataFrame:
    """The timeline after games were added to ``done`` at row ``first`` and later: the fold
    resumes from each team's last rating before that row (its state), bit for bit."""
    kept = timeline.slice(0, 2 * first)
    last = kept.group_by("team").agg(pl.col("rating").last(), pl.col("r_season").last())
    rating = dict(zip(last["team"], last["rating"], strict=True))
    season_of = dict(zip(last["team"], last["r_season"], strict=True))
    return pl.concat([kept, _fold(done.slice(first), rating, season_of)])


def ratings_at(base: pl.DataFrame, timeline: pl.DataFrame, side: str) -> pl.DataFrame:
    """Each target's team rating as of its horizon, reverted if a new season has begun."""
    left = base.select("game_id", "horizon", "season", pl.col(f"{side}_team").alias("team"))
    right = timeline.lazy().rename({"known_at": "r_known_at"})
    joined = solid(
        left.lazy()
        .sort("horizon")
        .join_asof(
            right.sort("r_known_at", maintain_order=True),
            left_on="horizon",
            right_on="r_known_at",
            by="team",
            strategy="backward",
            check_sortedness=False,
        )
        .collect()
    )
    rating = pl.col("rating").fill_null(MEAN)
    reverted = rating + (MEAN - rating) * REVERT
    return joined.select(
        "game_id",
        pl.when(pl.col("r_season").is_not_null() & (pl.col("r_season") != pl.col("season")))
        .then(reverted)
        .otherwise(rating)
        .alias(f"elo_{side}"),
        pl.col("r_known_at").alias(f"elo_{side}_known_at"),
    )
