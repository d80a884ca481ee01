"""The named, versioned feature set. Bump FEATURE_VERSION whenever a value could change."""

from __future__ import annotations

from features.lineups import LINEUP_FEATURES

FEATURE_VERSION = "fs-2026.12.3"

SIDE_FEATURES = (
    "form_win_10",  # win rate, last 10 games
    "form_win_30",
    "form_rd_10",  # run differential per game, last 10
    "form_rd_30",
    "form_rf_10",  # runs scored per game, last 10
    "form_ra_10",  # runs allowed per game, last 10
    "std_games",  # season to date
    "std_win_pct",
    "std_rd_pg",
    "std_rf_pg",
    "std_ra_pg",
    "std_pythag",  # Pythagorean expectation (exponent 1.83)
    "split_win_pct",  # home team: its home games; away team: its road games (season)
    "rest_days",
    "hits_pg_30",
    "hr_pg_30",
    "bb_pg_30",
    "so_pg_30",
    "errors_pg_30",
    "sp_starts_season",  # starting pitcher: starts this season
    "sp_ra_5",  # team runs allowed in his last 5 starts
    "sp_er_5",  # team earned runs allowed in his last 5 starts
    "sp_win_5",  # team win rate in his last 5 starts
    "sp_days_rest",
)

FEATURE_NAMES: tuple[str, ...] = (
    "elo_home",
    "elo_away",
    "elo_diff",
    "elo_home_prob",
    *(f"home_{f}" for f in SIDE_FEATURES),
    *(f"away_{f}" for f in SIDE_FEATURES),
    "diff_form_win_10",
    "diff_std_win_pct",
    "diff_std_rd_pg",
    "diff_sp_ra_5",
    "park_factor",
    "league_runs_pg",
    "is_night",
    "day_of_week",
    "month",
    "game_num",
    "is_postseason",
    "mkt_home_prob_open",
    "mkt_total_open",
    "mkt_over_prob_open",
    "mkt_has_line",
    # The current line: each market's last snapshot by the horizon, and its move since the
    # first (the opening line above).
    "mkt_home_prob",
    "mkt_total",
    "mkt_over_prob",
    "mkt_home_prob_move",
    "mkt_total_move",
    *LINEUP_FEATURES,  # player ratings: lineups, starters, expected runs (features/lineups.py)
)
