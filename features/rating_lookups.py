"""The player ratings as of a target's horizon (the lookup half of ``features/ratings.py``):
each announced batter's, the starter's and the team's rating from the last row known by
then, carried into the target's season, and the lineup's strength from them."""

from __future__ import annotations

import polars as pl

from features.ratings import BAT_PRIOR, REVERT, SP_PRIOR, TEAM_PRIOR, Timelines


def _asof(left: pl.DataFrame, right: pl.DataFrame, by: str) -> pl.DataFrame:
    return left.sort("horizon").join_asof(
        right.rename({"known_at": "r_known_at"}).sort("r_known_at"),
        left_on="horizon",
        right_on="r_known_at",
        by=by,
        strategy="backward",
        check_sortedness=False,
    )


def _carried_expr(col: str, prior: float) -> pl.Expr:
    value = pl.col(col)
    moved = prior + (value - prior) * (1 - REVERT)
    return (
        pl.when(value.is_null())
        .then(pl.lit(prior))
        .when(pl.col("r_season") != pl.col("season"))
        .then(moved)
        .otherwise(value)
    )


def lineup_strength(base: pl.DataFrame, batters: pl.DataFrame, side: str) -> pl.DataFrame:
    """Mean rating of each target's announced lineup on ``side``, as of its horizon."""
    slots = (
        base.select("game_id", "horizon", "season", pl.col(f"{side}_lineup").alias("player"))
        .explode("player")
        .with_columns(pl.int_range(pl.len()).over("game_id").alias("slot"))
        .filter(pl.col("player").is_not_null())
    )
    rated = _asof(slots, batters, "player").with_columns(
        _carried_expr("rating", BAT_PRIOR[0]).alias("rating")
    )
    # Summed in batting order, whatever order the join left: identical bits online/offline.
    ordered = rated.sort(["game_id", "slot"])
    # Summed slot by slot, elementwise, then divided column by column: Polars' mean kernel
    # sums a one-game frame and a season's frame differently (nine priors of -0.05 came out
    # -0.05 and -0.049999999999999996), elementwise arithmetic is the same at any length.
    lists = ordered.group_by("game_id", maintain_order=True).agg(
        pl.col("rating"), pl.col("r_known_at").max().alias(f"{side}_lineup_known_at")
    )
    total = pl.lit(0.0)
    for slot in range(9):
        total = total + pl.col("rating").list.get(slot, null_on_oob=True).fill_null(0.0)
    count = pl.col("rating").list.len().cast(pl.Float64)
    return lists.select(
        "game_id",
        pl.when(count > 0).then(total / count).alias(f"{side}_lineup_off"),
        f"{side}_lineup_known_at",
    )


def ratings_at(base: pl.DataFrame, timelines: Timelines, side: str) -> pl.DataFrame:
    """One side's lineup, starter and team ratings (and league, park) as of the horizon."""
    lineup = lineup_strength(base, timelines.batters, side)
    sp = _asof(
        base.select("game_id", "horizon", "season", pl.col(f"{side}_sp_id").alias("player")),
        timelines.pitchers,
        "player",
    ).select(
        "game_id",
        _carried_expr("rating", SP_PRIOR[0]).alias(f"{side}_sp_rating"),
        pl.col("r_known_at").alias(f"{side}_sp_known_at"),
    )
    team = _asof(
        base.select("game_id", "horizon", "season", pl.col(f"{side}_team").alias("team")),
        timelines.teams,
        "team",
    ).select(
        "game_id",
        _carried_expr("def_rating", TEAM_PRIOR[0]).alias(f"{side}_def_rating"),
        pl.col("usual_off").alias(f"{side}_usual_off"),
        pl.col("league_rpg").alias(f"{side}_league_rpg"),
        pl.col("home_adv").alias(f"{side}_home_adv"),
        pl.col("r_known_at").alias(f"{side}_team_known_at"),
    )
    return lineup.join(sp, on="game_id", how="full", coalesce=True).join(
        team, on="game_id", how="full", coalesce=True
    )


def park_at(base: pl.DataFrame, parks: pl.DataFrame) -> pl.DataFrame:
    return _asof(base.select("game_id", "horizon", "park_id"), parks, "park_id").select(
        "game_id", pl.col("park_mult").fill_null(1.0), pl.col("r_known_at").alias("park_r_known_at")
    )
