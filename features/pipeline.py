"""Point-in-time feature computation (Polars), shared by training and serving.

``build_features`` turns raw games, results, odds snapshots and announced starters into one
row per target game; ``features_at`` is its second half, which the incremental state
(``features/state.py``) calls on timelines it keeps up to date.
Every post-game fact carries ``known_at``; a target sees only facts with
``known_at <= horizon`` (its cutoff, or "now" if earlier), via backward as-of joins on
timelines ordered by (known_at, game_id). Every timeline statistic is causal (cumulative or
trailing sums of integers), so the value at a fact depends only on earlier facts: computing
over the full history or over just the facts before a cutoff gives bit-identical vectors.
"""

from __future__ import annotations

from functools import partial

import polars as pl

from features import elo
from features.announced import announced_at
from features.columns import solid
from features.definitions import FEATURE_NAMES, SIDE_FEATURES
from features.lines import CURRENT_PRICES, OPEN_PRICES, SEEN, lines_at
from features.lineups import lineup_features
from features.timelines import Timelines, done_frame

PYTHAG_EXP = 1.83


def _asof(
    left: pl.DataFrame, right: pl.DataFrame | pl.LazyFrame, by: str | None, on: str
) -> pl.DataFrame:
    """Backward as-of join: the last right row with known_at <= the left row's horizon."""
    lazy = right.lazy()
    lazy = lazy.rename({"known_at": on}) if on != "known_at" else lazy
    # Ties on the time keep the timeline's (known_at, game_id) order: the last one is taken.
    # One lazy query (one collect): a live lookup's cost is mostly per-operation overhead.
    joined = (
        left.lazy()
        .sort("horizon")
        .join_asof(
            lazy.sort(on, maintain_order=True),
            left_on="horizon",
            right_on=on,
            by=by,
            strategy="backward",
            check_sortedness=False,
        )
        .collect()
    )
    return solid(joined)


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
        teams.lazy().select(team_cols).rename({"season": "t_season", "game_date": "t_date"}),
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
        pitchers.lazy()
        .select(
            "pitcher",
            "known_at",
            "season",
            "game_date",
            "sp_ra_5",
            "sp_er_5",
            "sp_win_5",
            "sp_starts",
        )
        .rename({"season": "p_season", "game_date": "p_date"}),
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
    out = solid(
        out.join(
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
    )
    return out.select(
        "game_id",
        pl.max_horizontal("t_known_at", "p_known_at").alias(f"{side}_as_of"),
        *(pl.col(f).cast(pl.Float64).alias(f"{side}_{f}") for f in SIDE_FEATURES),
    )


def prepare(targets: pl.DataFrame, announced: pl.DataFrame) -> pl.DataFrame:
    """Targets with the starters and lineups announced by each horizon."""
    return announced_at(targets, announced)


def features_at(timelines: Timelines, snapshots: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Feature rows (with the prices of GameMeta) for prepared targets ``base``, as of each
    one's horizon. ``timelines`` may hold any history, or only the rows
    ``Timelines.restrict`` keeps for these targets: the values are the same."""
    home = _side_features(base, timelines.teams, timelines.pitchers, "home")
    away = _side_features(base, timelines.teams, timelines.pitchers, "away")
    ratings_home = elo.ratings_at(base, timelines.ratings, "home")
    ratings_away = elo.ratings_at(base, timelines.ratings, "away")
    park = _asof(
        base.select("game_id", "horizon", "park_id"),
        timelines.parks,
        by="park_id",
        on="park_known_at",
    )
    lg = _asof(base.select("game_id", "horizon"), timelines.league, by=None, on="league_known_at")
    market = lines_at(base, snapshots)
    frame = solid(
        base.join(home, on="game_id", how="left")
        .join(away, on="game_id", how="left")
        .join(ratings_home, on="game_id", how="left")
        .join(ratings_away, on="game_id", how="left")
        .join(park.select("game_id", "park_known_at", "park_runs_pg"), on="game_id", how="left")
        .join(lg.select("game_id", "league_known_at", "league_runs_pg"), on="game_id", how="left")
        .join(market, on="game_id", how="left")
    )
    # Player ratings: lineups, starters, expected runs (features/ratings.py, lineups.py).
    frame = frame.join(lineup_features(base, timelines.players), on="game_id", how="left")
    elo_diff = pl.col("elo_home") - pl.col("elo_away")
    frame = frame.with_columns(
        elo_diff.alias("elo_diff"),
        # In Python, row by row: Polars divides a long column by a literal through its
        # reciprocal but a one-row column exactly, so a live one-game vector would differ.
        (elo_diff + elo.HOME_ADVANTAGE)
        .map_elements(partial(elo.expected), return_dtype=pl.Float64)  # partial: no rewrite hint
        .alias("elo_home_prob"),
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
            "home_sp_known_at",
            "away_sp_known_at",
            "elo_home_known_at",
            "elo_away_known_at",
            "park_known_at",
            "league_known_at",
            "lines_known_at",
            "ratings_as_of",
        ).alias("as_of"),
    )
    return frame.select(
        "game_id",
        "cutoff",
        "as_of",
        *(pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES),
        *OPEN_PRICES,
        *CURRENT_PRICES,
        *SEEN,
    ).sort("game_id")


def build_features(
    games: pl.DataFrame,
    results: pl.DataFrame,
    snapshots: pl.DataFrame,
    announced: pl.DataFrame,
    targets: pl.DataFrame,
) -> pl.DataFrame:
    """Feature rows for ``targets`` (columns game_id, cutoff, horizon + game columns).

    ``games``/``results``/``snapshots``/``announced`` may hold any history; only facts known
    by each target's horizon are used. Output: game_id, cutoff, as_of and every name in
    FEATURE_NAMES.
    """
    timelines = Timelines.build(done_frame(games, results))
    frame = features_at(timelines, snapshots, prepare(targets, announced))
    return frame.select("game_id", "cutoff", "as_of", *FEATURE_NAMES)
