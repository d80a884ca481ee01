"""Labelled training frames: point-in-time features plus labels and market benchmarks.

Labels and the closing line are post-cutoff facts: they are joined here for training and
evaluation only, never into a feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.definitions import FEATURE_NAMES
from features.lines import fair_first_expr
from features.online import compute_frame
from storage.postgres import Conn

TARGETS = ("home_win", "total_over")
REGISTERED_NAMES = {"home_win": "firstpitch-home-win", "total_over": "firstpitch-total-over"}

OUTCOME_SQL = """SELECT r.game_id, r.home_score, r.away_score, o.open_ml_home, o.open_ml_away,
    o.close_ml_home, o.close_ml_away, o.open_total, o.open_over_price, o.open_under_price,
    o.close_total, o.close_over_price, o.close_under_price
    FROM game_results r LEFT JOIN odds o USING (game_id)"""


@dataclass
class Split:
    name: str
    frame: pl.DataFrame

    @property
    def x(self) -> np.ndarray:
        return self.frame.select(FEATURE_NAMES).to_numpy().astype(np.float64)

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy().astype(np.float64)


async def labelled_frame(conn: Conn, target: str, cutoff_minutes: int = 60) -> pl.DataFrame:
    """Features + ``label`` + ``season`` + de-vigged opening/closing market probabilities."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
    features, targets = await compute_frame(conn, cutoff_minutes=cutoff_minutes)
    rows = await conn.fetch(OUTCOME_SQL)
    outcomes = pl.DataFrame([dict(r) for r in rows], infer_schema_length=None)
    return label(features, targets, outcomes, target)


def label(
    features: pl.DataFrame, targets: pl.DataFrame, outcomes: pl.DataFrame, target: str
) -> pl.DataFrame:
    """Join outcomes (OUTCOME_SQL's columns) to feature rows and add the label and markets."""
    frame = features.join(targets.select("game_id", "season"), on="game_id").join(
        outcomes, on="game_id", how="inner"
    )
    if target == "home_win":
        frame = frame.with_columns(
            (pl.col("home_score") > pl.col("away_score")).cast(pl.Int8).alias("label"),
            fair_first_expr("open_ml_home", "open_ml_away").alias("market_open"),
            fair_first_expr("close_ml_home", "close_ml_away").alias("market_close"),
        )
    else:
        # Over/under against the opening total (known before the cutoff); pushes excluded.
        total = pl.col("home_score") + pl.col("away_score")
        frame = frame.filter(pl.col("open_total").is_not_null() & (total != pl.col("open_total")))
        frame = frame.with_columns(
            (total > pl.col("open_total")).cast(pl.Int8).alias("label"),
            fair_first_expr("open_over_price", "open_under_price").alias("market_open"),
            # The closing market prices the opening line's event only if the line held.
            pl.when(pl.col("close_total") == pl.col("open_total"))
            .then(fair_first_expr("close_over_price", "close_under_price"))
            .alias("market_close"),
        )
    return frame.sort("game_id")


# The champion's seasons: the rolling-origin fold of 2021 (train through 2019, tune and
# early-stop on 2020, test on 2021), so its 2021 predictions are out of sample.
TRAIN_LAST, VALID_SEASON, TEST_SEASONS = 2019, 2020, (2021,)
PRIMARY_TEST = "2021"


def split(frame: pl.DataFrame) -> tuple[Split, Split, dict[str, Split]]:
    """Train through 2019, validate on 2020, test on 2021."""
    train = Split("train", frame.filter(pl.col("season") <= TRAIN_LAST))
    valid = Split("valid", frame.filter(pl.col("season") == VALID_SEASON))
    tests = {str(s): Split(str(s), frame.filter(pl.col("season") == s)) for s in TEST_SEASONS}
    return train, valid, tests
