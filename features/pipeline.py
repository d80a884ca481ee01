"""Point-in-time feature computation (Polars), shared by training and serving.

``build_features`` turns raw games, results and opening lines into one row per target game.
Every post-game fact carries ``known_at``; a target sees only facts with
``known_at <= horizon`` (its cutoff, or "now" if earlier), via backward as-of joins on
timelines ordered by (known_at, game_id). Every timeline statistic is causal (cumulative or
trailing sums of integers), so the value at a fact depends only on earlier facts: computing
over the full history or over just the facts before a cutoff gives bit-identical vectors.
"""

from __future__ import annotations

import polars as pl

from features import elo
from features.definitions import FEATURE_NAMES, SIDE_FEATURES
from features.lineups import lineup_features
from features.market import fair_first
from features.ratings import rating_timelines

PYTHAG_EXP = 1.83
PARK_WINDOW = 243  # ~3 seasons of home games
LEAGUE_WINDOW = 2430  # ~1 season of games
UTC_US = pl.Datetime("us", "UTC")


def fair_first_expr(first: str, second: str) -> pl.Expr:
    """The first side's de-vigged probability from two American-odds columns (or null)."""
    return pl.struct(first, second).map_elements(
        lambda s: fair_first(s[first], s[second]), return_dtype=pl.Float64
    )


def team_timeline(games: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Two rows per finished game (one per team) with trailing and season-to-date stats."""
    done = games.join(results, on="game_id", how="inner")
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


def pitcher_timeline(games: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """One row per start: how his team fared, trailing over his last 5 starts."""
    done = games.join(results, on="game_id", how="inner")
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


def run_timelines(games: pl.DataFrame, results: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Runs per game at each park (trailing) and league-wide (trailing), ordered by known_at."""
    done = games.join(results, on="game_id", how="inner").with_columns(
        (pl.col("home_score") + pl.col("away_score")).cast(pl.Int64).alias("runs"),
        pl.lit(1, pl.Int64).alias("one"),
    )
    park = (
        done.sort(["park_id", "known_at", "game_id"])
        .with_columns(
            (
                pl.col("runs").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
                / pl.col("one").rolling_sum(PARK_WINDOW, min_samples=1).over("park_id")
            ).alias("park_runs_pg")
        )
        .select("park_id", "known_at", "park_runs_pg")
    )
    league = (
        done.sort(["known_at", "game_id"])
        .with_columns(
            (
                pl.col("runs").rolling_sum(LEAGUE_WINDOW, min_samples=1)
                / pl.col("one").rolling_sum(LEAGUE_WINDOW, min_samples=1)
            ).alias("league_runs_pg")
        )
        .select("known_at", "league_runs_pg")
    )
    return park, league


def _asof(left: pl.DataFrame, right: pl.DataFrame, by: str | None, on: str) -> pl.DataFrame:
    """Backward as-of join: the last right row with known_at <= the left row's horizon."""
    right = right.rename({"known_at": on}) if on != "known_at" else right
    return left.sort("horizon").join_asof(
        right.sort(on),
        left_on="horizon",
        right_on=on,
        by=by,
        strategy="backward",
        check_sortedness=False,
    )


def _side_features(
    targets: pl.DataFrame, teams: pl.DataFrame, pitchers: pl.DataFrame, side: str
) -> pl.DataFrame:
    team_cols = [
        "team",
        "known_at",
        "season",
        "game_date",
        "form_win_10",
        "form_win_30",
        "form_rd_10",
        "form_rd_30",
        "form_rf_10",
        "form_ra_10",
        "hits_pg_30",
        "hr_pg_30",
        "bb_pg_30",
        "so_pg_30",
        "errors_pg_30",
        "std_games",
        "std_wins",
        "std_rf",
        "std_ra",
        "std_home_wins",
        "std_home_games",
        "std_road_wins",
        "std_road_games",
    ]
    left = targets.select(
        "game_id",
        "horizon",
        "season",
        "game_date",
        pl.col(f"{side}_team").alias("team"),
        pl.col(f"{side}_sp_id").alias("pitcher"),
    )
    joined = _asof(
        left,
        teams.select(team_cols).rename({"season": "t_season", "game_date": "t_date"}),
        by="team",
        on="t_known_at",
    )
    same = pl.col("t_season") == pl.col("season")
    games = pl.when(same).then(pl.col("std_games")).otherwise(0)
    split_w, split_n = (
        ("std_home_wins", "std_home_games")
        if side == "home"
        else ("std_road_wins", "std_road_games")
    )
    rf, ra = pl.col("std_rf").cast(pl.Float64), pl.col("std_ra").cast(pl.Float64)
    out = joined.with_columns(
        games.cast(pl.Float64).alias("std_games"),
        pl.when(same).then(pl.col("std_wins") / pl.col("std_games")).alias("std_win_pct"),
        pl.when(same).then((rf - ra) / pl.col("std_games")).alias("std_rd_pg"),
        pl.when(same).then(rf / pl.col("std_games")).alias("std_rf_pg"),
        pl.when(same).then(ra / pl.col("std_games")).alias("std_ra_pg"),
        pl.when(same & ((rf + ra) > 0))
        .then(rf**PYTHAG_EXP / (rf**PYTHAG_EXP + ra**PYTHAG_EXP))
        .alias("std_pythag"),
        pl.when(same & (pl.col(split_n) > 0))
        .then(pl.col(split_w) / pl.col(split_n))
        .alias("split_win_pct"),
        (pl.col("game_date") - pl.col("t_date"))
        .dt.total_days()
        .cast(pl.Float64)
        .alias("rest_days"),
    )
    sp = _asof(
        out.select("game_id", "horizon", "season", "game_date", "pitcher"),
        pitchers.select(
            "pitcher",
            "known_at",
            "season",
            "game_date",
            "sp_ra_5",
            "sp_er_5",
            "sp_win_5",
            "sp_starts",
        ).rename({"season": "p_season", "game_date": "p_date"}),
        by="pitcher",
        on="p_known_at",
    ).with_columns(
        pl.when(pl.col("p_season") == pl.col("season"))
        .then(pl.col("sp_starts"))
        .otherwise(0)
        .cast(pl.Float64)
        .alias("sp_starts_season"),
        (pl.col("game_date") - pl.col("p_date"))
        .dt.total_days()
        .cast(pl.Float64)
        .alias("sp_days_rest"),
    )
    out = out.join(
        sp.select(
            "game_id",
            "p_known_at",
            "sp_ra_5",
            "sp_er_5",
            "sp_win_5",
            "sp_starts_season",
            "sp_days_rest",
        ),
        on="game_id",
        how="left",
    )
    return out.select(
        "game_id",
        pl.max_horizontal("t_known_at", "p_known_at").alias(f"{side}_as_of"),
        *(pl.col(f).cast(pl.Float64).alias(f"{side}_{f}") for f in SIDE_FEATURES),
    )


def build_features(
    games: pl.DataFrame,
    results: pl.DataFrame,
    odds: pl.DataFrame,
    targets: pl.DataFrame,
) -> pl.DataFrame:
    """Feature rows for ``targets`` (columns game_id, cutoff, horizon + game columns).

    ``games``/``results``/``odds`` may hold any history; only facts known by each target's
    horizon are used. Output: game_id, cutoff, as_of and every name in FEATURE_NAMES.
    """
    teams = team_timeline(games, results)
    pitchers = pitcher_timeline(games, results)
    parks, league = run_timelines(games, results)
    ratings = elo.rating_timeline(games, results)

    base = targets.select(
        "game_id",
        "cutoff",
        "horizon",
        "season",
        "game_date",
        "game_num",
        "game_type",
        "home_team",
        "away_team",
        "home_sp_id",
        "away_sp_id",
        "park_id",
        "day_night",
        "home_lineup",
        "away_lineup",
    )
    home = _side_features(base, teams, pitchers, "home")
    away = _side_features(base, teams, pitchers, "away")
    ratings_home = elo.ratings_at(base, ratings, "home")
    ratings_away = elo.ratings_at(base, ratings, "away")
    park = _asof(
        base.select("game_id", "horizon", "park_id"), parks, by="park_id", on="park_known_at"
    )
    lg = _asof(base.select("game_id", "horizon"), league, by=None, on="league_known_at")
    market = (
        base.select("game_id", "horizon")
        .join(odds, on="game_id", how="left")
        .filter(pl.col("open_known_at") <= pl.col("horizon"))
    )
    market = market.with_columns(
        fair_first_expr("open_ml_home", "open_ml_away").alias("mkt_home_prob_open"),
        fair_first_expr("open_over_price", "open_under_price").alias("mkt_over_prob_open"),
        pl.col("open_total").cast(pl.Float64).alias("mkt_total_open"),
    ).select(
        "game_id", "open_known_at", "mkt_home_prob_open", "mkt_over_prob_open", "mkt_total_open"
    )

    frame = (
        base.join(home, on="game_id", how="left")
        .join(away, on="game_id", how="left")
        .join(ratings_home, on="game_id", how="left")
        .join(ratings_away, on="game_id", how="left")
        .join(park.select("game_id", "park_known_at", "park_runs_pg"), on="game_id", how="left")
        .join(lg.select("game_id", "league_known_at", "league_runs_pg"), on="game_id", how="left")
        .join(market, on="game_id", how="left")
    )
    # Player ratings: lineups, starters, expected runs (features/ratings.py, lineups.py).
    player_timelines, _ = rating_timelines(games, results)
    frame = frame.join(lineup_features(base, player_timelines), on="game_id", how="left")
    elo_diff = pl.col("elo_home") - pl.col("elo_away")
    frame = frame.with_columns(
        elo_diff.alias("elo_diff"),
        (1 / (1 + 10 ** (-(elo_diff + elo.HOME_ADVANTAGE) / 400))).alias("elo_home_prob"),
        (pl.col("home_form_win_10") - pl.col("away_form_win_10")).alias("diff_form_win_10"),
        (pl.col("home_std_win_pct") - pl.col("away_std_win_pct")).alias("diff_std_win_pct"),
        (pl.col("home_std_rd_pg") - pl.col("away_std_rd_pg")).alias("diff_std_rd_pg"),
        (pl.col("home_sp_ra_5") - pl.col("away_sp_ra_5")).alias("diff_sp_ra_5"),
        (pl.col("park_runs_pg") / pl.col("league_runs_pg")).alias("park_factor"),
        (pl.col("day_night") == "N").cast(pl.Float64).alias("is_night"),
        pl.col("game_date").dt.weekday().cast(pl.Float64).alias("day_of_week"),
        pl.col("game_date").dt.month().cast(pl.Float64).alias("month"),
        pl.col("game_num").cast(pl.Float64).alias("game_num"),
        (pl.col("game_type") != "regular").cast(pl.Float64).alias("is_postseason"),
        pl.col("mkt_home_prob_open").is_not_null().cast(pl.Float64).alias("mkt_has_line"),
        pl.max_horizontal(
            "home_as_of",
            "away_as_of",
            "elo_home_known_at",
            "elo_away_known_at",
            "park_known_at",
            "league_known_at",
            "open_known_at",
            "ratings_as_of",
        ).alias("as_of"),
    )
    return frame.select(
        "game_id",
        "cutoff",
        "as_of",
        *(pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES),
    ).sort("game_id")
