"""Starting pitchers and batting orders as announced by a target's horizon.

``lineup_snapshots`` holds every announcement with the time it became known (the feed's, and
for historical games the times ``ingest/known_times.py`` assigns). A target's starter and
lineup are the latest announcement of each kind and side known at its horizon; before any is
known they are null, and the pitcher features are missing (never the starter who will turn
out to pitch).
"""

from __future__ import annotations

import polars as pl

from features.columns import solid

ANNOUNCED_COLUMNS = ("game_id", "side", "kind", "players", "known_at")


def announced_at(targets: pl.DataFrame, announced: pl.DataFrame) -> pl.DataFrame:
    """``targets`` with ``home_sp_id``/``away_sp_id`` (and ``*_sp_known_at``) replaced by the
    starters known at each horizon, plus ``home_lineup``/``away_lineup`` (nine ids, or null)
    and ``*_lineup_known_at``."""
    latest = (
        targets.lazy()
        .select("game_id", "horizon")
        .join(announced.lazy(), on="game_id", how="inner")
        .filter(pl.col("known_at") <= pl.col("horizon"))
        .sort(["game_id", "side", "kind", "known_at"], maintain_order=True)
        .group_by(["game_id", "side", "kind"], maintain_order=True)
        .agg(pl.col("players").last(), pl.col("known_at").last())
    )
    out = targets.lazy().drop(
        "home_sp_id", "away_sp_id", "home_lineup", "away_lineup", strict=False
    )
    for side in ("home", "away"):
        for kind, name in (("starter", "sp"), ("lineup", "lineup")):
            picked = latest.filter((pl.col("side") == side) & (pl.col("kind") == kind)).select(
                "game_id",
                (pl.col("players").list.first() if kind == "starter" else pl.col("players")).alias(
                    f"{side}_{name}" if kind == "lineup" else f"{side}_sp_id"
                ),
                pl.col("known_at").alias(f"{side}_{name}_known_at"),
            )
            out = out.join(picked, on="game_id", how="left")
    return solid(out.collect())  # one query
