"""The timeline frames of finished games: each team's trailing and season-to-date form, each
starter's last starts, each park's and the league's runs per game, every row as of the time
its game's result became known.

Each is a pure Polars computation over rows in (known_at, game_id) order, so a row depends
only on earlier facts; ``features/timelines.py`` holds them together and recomputes only the
keys new results touch.
"""

from __future__ import annotations

import polars as pl

PARK_WINDOW = 243  # ~3 seasons of home games
LEAGUE_WINDOW = 2430  # ~1 season of games
ORDER = ["known_at", "game_id"]


def done_frame(games: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Finished games: games joined to their results, in (known_at, game_id) order."""
    return games.join(results, on="game_id", how="inner").sort(ORDER)


def team_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """Two rows per finished game (one per team) with trailing and season-to-date stats."""
    sides = []
    for side, other in (("home", "away"), ("away", "home")):
        sides.append(
            done.select(
                pl.col("game_id"),
                pl.col("known_at"),
                pl.col("season"),
                pl.col("game_date"),
                pl.col(f"{side}_team").alias("team"),
                pl.lit(side == "home").alias("is_home"),
                pl.col(f"{side}_score").cast(pl.Int64).alias("rf"),
                pl.col(f"{other}_score").cast(pl.Int64).alias("ra"),
                *(
                    pl.col(f"{side}_{s}").fill_null(0).cast(pl.Int64).alias(s)
                    for s in ("h", "hr", "bb", "k", "e")
                ),
            )
        )
    t = pl.concat(sides).sort(["team", "known_at", "game_id"])
    t = t.with_columns(
        (pl.col("rf") > pl.col("ra")).cast(pl.Int64).alias("win"),
        (pl.col("rf") - pl.col("ra")).alias("rd"),
        pl.lit(1, pl.Int64).alias("one"),
    )

    def trailing(col: str, n: int) -> pl.Expr:
        return pl.col(col).rolling_sum(n, min_samples=1).over("team")

    def season_cum(expr: pl.Expr) -> pl.Expr:
        return expr.cum_sum().over(["team", "season"])

    home_games = pl.col("is_home").cast(pl.Int64)
    road_games = (~pl.col("is_home")).cast(pl.Int64)
    return t.with_columns(
        (trailing("win", 10) / trailing("one", 10)).alias("form_win_10"),
        (trailing("win", 30) / trailing("one", 30)).alias("form_win_30"),
        (trailing("rd", 10) / trailing("one", 10)).alias("form_rd_10"),
        (trailing("rd", 30) / trailing("one", 30)).alias("form_rd_30"),
        (trailing("rf", 10) / trailing("one", 10)).alias("form_rf_10"),
        (trailing("ra", 10) / trailing("one", 10)).alias("form_ra_10"),
        *(
            (trailing(s, 30) / trailing("one", 30)).alias(f"{name}_pg_30")
            for s, name in (("h", "hits"), ("hr", "hr"), ("bb", "bb"), ("k", "so"), ("e", "errors"))
        ),
        season_cum(pl.col("one")).alias("std_games"),
        season_cum(pl.col("win")).alias("std_wins"),
        season_cum(pl.col("rf")).alias("std_rf"),
        season_cum(pl.col("ra")).alias("std_ra"),
        season_cum(pl.col("win") * home_games).alias("std_home_wins"),
        season_cum(home_games).alias("std_home_games"),
        season_cum(pl.col("win") * road_games).alias("std_road_wins"),
        season_cum(road_games).alias("std_road_games"),
    )


def pitcher_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """One row per start: how his team fared, trailing over his last 5 starts."""
    starts = pl.concat(
        done.select(
            pl.col(f"{side}_sp_id").alias("pitcher"),
            "game_id",
            "known_at",
            "season",
            "game_date",
            pl.col(f"{other}_score").cast(pl.Int64).alias("ra"),
            pl.col(f"{side}_er").fill_null(pl.col(f"{other}_score")).cast(pl.Int64).alias("er"),
            (pl.col(f"{side}_score") > pl.col(f"{other}_score")).cast(pl.Int64).alias("win"),
        )
        for side, other in (("home", "away"), ("away", "home"))
    ).filter(pl.col("pitcher").is_not_null())
    starts = starts.sort(["pitcher", "known_at", "game_id"]).with_columns(
        pl.lit(1, pl.Int64).alias("one")
    )

    def last5(col: str) -> pl.Expr:
        return pl.col(col).rolling_sum(5, min_samples=1).over("pitcher")

    return starts.with_columns(
        (last5("ra") / last5("one")).alias("sp_ra_5"),
        (last5("er") / last5("one")).alias("sp_er_5"),
        (last5("win") / last5("one")).alias("sp_win_5"),
        pl.col("one").cum_sum().over(["pitcher", "season"]).alias("sp_starts"),
    )


def _runs(done: pl.DataFrame) -> pl.DataFrame:
    return done.select(
        "park_id",
        "known_at",
        "game_id",
        (pl.col("home_score") + pl.col("away_score")).cast(pl.Int64).alias("runs"),
        pl.lit(1, pl.Int64).alias("one"),
    )


def park_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """Runs per game at each park, trailing over its last PARK_WINDOW games."""
    return (
        _runs(done)
        .sort(["park_id", "known_at", "game_id"])
        .with_columns(
            (
                pl.col("runs").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
                / pl.col("one").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
            ).alias("park_runs_pg")
        )
        .select("park_id", "known_at", "park_runs_pg")
    )


def league_timeline(done: pl.DataFrame) -> pl.DataFrame:
    """League-wide runs per game, trailing; one row per finished game in ``done``'s order."""
    return (
        _runs(done)
        .with_columns(
            (
                pl.col("runs").rolling_sum(LEAGUE_WINDOW, min_samples=1)
                / pl.col("one").rolling_sum(LEAGUE_WINDOW, min_samples=1)
            ).alias("league_runs_pg")
        )
        .select("known_at", "league_runs_pg")
    )
