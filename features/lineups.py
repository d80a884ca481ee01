"""Features of the announced lineups and starters, from the player ratings as of the horizon.

- ``{side}_lineup_off``: mean offensive rating of the nine announced batters.
- ``{side}_lineup_vs_usual``: that minus the team's usual lineup strength (rested regulars
  show as negative).
- ``{side}_sp_rating`` / ``{side}_def_rating``: runs allowed over average by the starter and
  by the rest of the team (bullpen, fielding).
- ``exp_runs_home`` / ``exp_runs_away``: the rating model's expected runs of each side
  (league scoring × park, home advantage, lineup, opposing starter and team);
  ``exp_total``, ``exp_run_diff`` and ``rating_home_prob`` (Pythagorean, exponent 1.83).
"""

from __future__ import annotations

import polars as pl

from features.rating_lookups import park_at, ratings_at
from features.ratings import Timelines

PYTHAG_EXP = 1.83
LINEUP_FEATURES = (
    "home_lineup_off",
    "away_lineup_off",
    "home_lineup_vs_usual",
    "away_lineup_vs_usual",
    "home_sp_rating",
    "away_sp_rating",
    "home_def_rating",
    "away_def_rating",
    "exp_runs_home",
    "exp_runs_away",
    "exp_total",
    "exp_run_diff",
    "rating_home_prob",
)
KNOWN_AT = tuple(
    f"{side}_{what}_known_at" for side in ("home", "away") for what in ("lineup", "sp", "team")
)


def lineup_features(base: pl.DataFrame, timelines: Timelines) -> pl.DataFrame:
    """game_id, ``ratings_as_of`` and every name in LINEUP_FEATURES for each target."""
    cols = (
        "game_id",
        "horizon",
        "season",
        "park_id",
        "home_team",
        "away_team",
        "home_sp_id",
        "away_sp_id",
        "home_lineup",
        "away_lineup",
    )
    targets = base.select(cols)
    frame = (
        targets.select("game_id")
        .join(ratings_at(targets, timelines, "home"), on="game_id", how="left")
        .join(ratings_at(targets, timelines, "away"), on="game_id", how="left")
        .join(park_at(targets, timelines.parks), on="game_id", how="left")
    )
    league = pl.coalesce("home_league_rpg", "away_league_rpg") * pl.col("park_mult")
    home_adv = pl.coalesce("home_home_adv", "away_home_adv")
    exp_home = (
        league
        + home_adv / 2
        + pl.col("home_lineup_off")
        + pl.col("away_sp_rating")
        + pl.col("away_def_rating")
    )
    exp_away = (
        league
        - home_adv / 2
        + pl.col("away_lineup_off")
        + pl.col("home_sp_rating")
        + pl.col("home_def_rating")
    )
    frame = frame.with_columns(
        exp_home.alias("exp_runs_home"),
        exp_away.alias("exp_runs_away"),
        (pl.col("home_lineup_off") - pl.col("home_usual_off")).alias("home_lineup_vs_usual"),
        (pl.col("away_lineup_off") - pl.col("away_usual_off")).alias("away_lineup_vs_usual"),
    ).with_columns(
        (pl.col("exp_runs_home") + pl.col("exp_runs_away")).alias("exp_total"),
        (pl.col("exp_runs_home") - pl.col("exp_runs_away")).alias("exp_run_diff"),
        (
            pl.col("exp_runs_home").clip(0.5) ** PYTHAG_EXP
            / (
                pl.col("exp_runs_home").clip(0.5) ** PYTHAG_EXP
                + pl.col("exp_runs_away").clip(0.5) ** PYTHAG_EXP
            )
        ).alias("rating_home_prob"),
    )
    return frame.select(
        "game_id",
        pl.max_horizontal(*KNOWN_AT, "park_r_known_at").alias("ratings_as_of"),
        *(pl.col(n).cast(pl.Float64) for n in LINEUP_FEATURES),
    )
