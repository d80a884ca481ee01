"""The rolling-origin evaluation: a test season never reaches training or tuning; bets and
closing-line value are computed as the serving rules make them."""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl
import pytest

from features.definitions import FEATURE_NAMES
from firstpitch.serving.betting import BettingPolicy, recommend
from training.evaluate import betting, evaluate_season, rolling_origin

BETTOR = partial(recommend, policy=BettingPolicy())
SMALL = {"num_leaves": [7], "min_data_in_leaf": [50]}


def _bet(market: str, sides: tuple[str, str], p: float, prices: tuple[int | None, int | None],
         line: float | None) -> dict[str, object]:  # fmt: skip
    return BETTOR(market, sides, p, prices, line=line)


def _frame(seed: int, leak_season: int) -> pl.DataFrame:
    """Random features and labels; only in ``leak_season`` does feature 0 decide the label."""
    rng = np.random.default_rng(seed)
    rows = []
    for season in range(2010, 2017):
        n = 600
        x = rng.random((n, len(FEATURE_NAMES)))
        y = (x[:, 0] > 0.5) if season == leak_season else rng.random(n) < 0.5
        frame = pl.DataFrame(x, schema=list(FEATURE_NAMES)).with_columns(
            pl.lit(season).alias("season"),
            pl.Series("label", y.astype(np.int8)),
            pl.lit(0.5).alias("market_open"),
            pl.lit(0.5).alias("market_close"),
            pl.lit(0.5).alias("mkt_home_prob_open"),
            pl.lit(-110).alias("open_ml_home"),
            pl.lit(-110).alias("open_ml_away"),
            pl.lit(-110).alias("close_ml_home"),
            pl.lit(-110).alias("close_ml_away"),
        )
        rows.append(frame)
    return pl.concat(rows)


def test_a_test_season_is_never_trained_or_tuned_on() -> None:
    # 2016 is the only season where the label can be learnt: had it been trained on, its
    # log loss would be far below a coin's (the next test shows the fit learning it).
    held_out = evaluate_season(_frame(1, 2016), "home_win", 2016, _bet, SMALL, 200)
    assert held_out["train_range"] == "2010-2014" and held_out["valid_season"] == 2015
    assert held_out["model"]["log_loss"] > 0.68
    with pytest.raises(ValueError, match="season 2010"):
        evaluate_season(_frame(1, 2016), "home_win", 2010, _bet, SMALL, 200)


def test_a_rule_in_the_training_seasons_is_learnt() -> None:
    """The counterpart: the same fit learns the rule when it holds in training and test."""
    frame = _frame(2, 2016)
    frame = frame.with_columns(
        pl.when(pl.col("season") <= 2016)
        .then((pl.col(FEATURE_NAMES[0]) > 0.5).cast(pl.Int8))
        .alias("label")
    )
    report = rolling_origin(frame, "home_win", [2016], _bet, SMALL, 200)
    assert report["seasons"][0]["model"]["log_loss"] < 0.3
    assert report["summary"]["seasons_below_opening"] == 1


def test_bets_roi_and_closing_line_value_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "label": [1, 0, 1],
            "open_ml_home": [120, 120, -150],
            "open_ml_away": [-140, -140, 130],
            "close_ml_home": [100, 150, -150],
            "close_ml_away": [-120, -170, 130],
        }
    )
    # Home at +120 (fair ~0.445) with p = 0.6: a bet; the third game p = 0.5: no bet.
    out = betting(frame, np.array([0.6, 0.6, 0.5]), "home_win", _bet)
    assert out["bets"] == 2 and out["clv_bets"] == 2
    assert out["roi"] == pytest.approx((1.2 - 1.0) / 2)
    assert out["clv"] == pytest.approx(((2.2 / 2.0 - 1) + (2.2 / 2.5 - 1)) / 2)


def test_a_moved_total_gives_no_closing_line_value() -> None:
    frame = pl.DataFrame(
        {
            "label": [1, 1],
            "open_total": [8.5, 8.5],
            "close_total": [8.5, 9.0],
            "open_over_price": [110, 110],
            "open_under_price": [-130, -130],
            "close_over_price": [-110, -110],
            "close_under_price": [-110, -110],
        }
    )
    out = betting(frame, np.array([0.62, 0.62]), "total_over", _bet)
    assert out["bets"] == 2 and out["clv_bets"] == 1
    assert out["clv"] == pytest.approx(2.1 / (1 + 100 / 110) - 1)
