"""The betting market as known at a target's horizon, from the odds snapshot series.

For each market (moneyline, total): the opening line is the first snapshot observed by the
horizon, the current line the last one (snapshots ordered by observed_at, then source), and
the movement is the change between them (de-vigged home probability, total runs). A
workbook's closing line is observed at first pitch, after every cutoff, so historically the
current line is the opening line unless a live source sent more.
"""

from __future__ import annotations

import polars as pl

from features.market import fair_first

SNAPSHOT_COLUMNS = (
    "game_id", "market", "source", "observed_at", "home_price", "away_price", "over_price",
    "under_price", "line",
)  # fmt: skip
# Prices as served beside the vector (GameMeta): the opening line and the current one.
OPEN_PRICES = ("open_ml_home", "open_ml_away", "open_total", "open_over_price", "open_under_price")
CURRENT_PRICES = ("ml_home", "ml_away", "total", "over_price", "under_price")
SEEN = ("ml_seen_at", "total_seen_at")


def fair_first_expr(first: str, second: str) -> pl.Expr:
    """The first side's de-vigged probability from two American-odds columns (or null)."""
    return pl.struct(first, second).map_elements(
        lambda s: fair_first(s[first], s[second]), return_dtype=pl.Float64
    )


def _ends(seen: pl.LazyFrame, market: str, cols: dict[str, str]) -> pl.LazyFrame:
    """First and last snapshot of one market per game: open_<name> and <name> columns."""
    picked = seen.filter(pl.col("market") == market)
    return picked.group_by("game_id", maintain_order=True).agg(
        *(pl.col(src).first().alias(f"open_{name}") for src, name in cols.items()),
        *(pl.col(src).last().alias(name) for src, name in cols.items()),
        pl.col("observed_at").last().alias(f"{market_key(market)}_seen_at"),
    )


def market_key(market: str) -> str:
    return "ml" if market == "moneyline" else market


def lines_at(base: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Per target (game_id, horizon): opening and current prices, when each market's current
    line was seen, and the market features. Targets with no snapshot get nulls."""
    seen = (
        base.lazy()
        .select("game_id", "horizon")
        .join(snapshots.lazy(), on="game_id", how="inner")
        .filter(pl.col("observed_at") <= pl.col("horizon"))
        .sort(["game_id", "market", "observed_at", "source"], maintain_order=True)
    )
    ml = _ends(seen, "moneyline", {"home_price": "ml_home", "away_price": "ml_away"})
    total = _ends(
        seen,
        "total",
        {"line": "total", "over_price": "over_price", "under_price": "under_price"},
    )
    # Differences and de-vigging are exact on any column (no division by a broadcast), and
    # all of it is one lazy query.
    out = (
        base.lazy()
        .select("game_id")
        .join(ml, on="game_id", how="left")
        .join(total, on="game_id", how="left")
    )
    out = out.with_columns(
        fair_first_expr("open_ml_home", "open_ml_away").alias("mkt_home_prob_open"),
        fair_first_expr("open_over_price", "open_under_price").alias("mkt_over_prob_open"),
        pl.col("open_total").cast(pl.Float64).alias("mkt_total_open"),
        fair_first_expr("ml_home", "ml_away").alias("mkt_home_prob"),
        fair_first_expr("over_price", "under_price").alias("mkt_over_prob"),
        pl.col("total").cast(pl.Float64).alias("mkt_total"),
    )
    return out.with_columns(
        (pl.col("mkt_home_prob") - pl.col("mkt_home_prob_open")).alias("mkt_home_prob_move"),
        (pl.col("mkt_total") - pl.col("mkt_total_open")).alias("mkt_total_move"),
        pl.max_horizontal(*SEEN).alias("lines_known_at"),
    ).collect()
