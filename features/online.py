"""Vectors for given games straight from PostgreSQL, through the same pipeline as training."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from features.pipeline import build_features
from features.source import load_games, load_history, with_cutoffs
from features.vectors import FeatureVector, GameMeta
from storage.postgres import Conn

META_ODDS = ("open_ml_home", "open_ml_away", "open_total", "open_over_price", "open_under_price")


class UnknownGames(LookupError):
    def __init__(self, game_ids: list[str]) -> None:
        self.game_ids = game_ids
        super().__init__(f"unknown game ids: {', '.join(game_ids)}")


def frame_to_vectors(
    frame: pl.DataFrame, targets: pl.DataFrame, odds: pl.DataFrame
) -> dict[str, FeatureVector]:
    """Pack feature rows (plus game metadata and the line known at cutoff) into vectors."""
    info = targets.join(odds, on="game_id", how="left").with_columns(
        *(
            pl.when(pl.col("open_known_at") <= pl.col("horizon")).then(pl.col(c)).alias(c)
            for c in META_ODDS
        )
    )
    info_rows = {r["game_id"]: r for r in info.iter_rows(named=True)}
    values = frame.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    out: dict[str, FeatureVector] = {}
    for i, row in enumerate(frame.select("game_id", "cutoff", "as_of").iter_rows(named=True)):
        g = info_rows[row["game_id"]]
        out[row["game_id"]] = FeatureVector(
            game_id=row["game_id"],
            feature_version=FEATURE_VERSION,
            as_of=row["as_of"] or g["horizon"],
            cutoff=row["cutoff"],
            horizon=g["horizon"],
            values=np.ascontiguousarray(values[i]),
            meta=GameMeta(
                home_team=g["home_team"],
                away_team=g["away_team"],
                game_date=g["game_date"].isoformat(),
                scheduled_start=g["scheduled_start"],
                game_type=g["game_type"],
                **{c: g[c] for c in META_ODDS},
            ),
        )
    return out


async def compute_vectors(
    conn: Conn,
    game_ids: list[str],
    *,
    cutoff_minutes: int,
    now: datetime | None = None,
) -> dict[str, FeatureVector]:
    """Vectors of ``game_ids`` as of min(cutoff, now), computed from the database."""
    targets = with_cutoffs(await load_games(conn, game_ids=game_ids), cutoff_minutes, now)
    missing = sorted(set(game_ids) - set(targets["game_id"].to_list()))
    if missing:
        raise UnknownGames(missing)
    until = targets["horizon"].max()
    assert isinstance(until, datetime)
    games, results, odds = await load_history(conn, until)
    frame = build_features(games, results, odds, targets)
    return frame_to_vectors(frame, targets, odds)


async def compute_frame(
    conn: Conn, *, cutoff_minutes: int, seasons: set[int] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The offline training frame: features for every game (or ``seasons``) as of its cutoff,
    plus the targets with metadata. Same code as ``compute_vectors``."""
    games, results, odds = await load_history(conn)
    all_games = await load_games(conn)
    targets = with_cutoffs(all_games, cutoff_minutes)
    if seasons is not None:
        targets = targets.filter(pl.col("season").is_in(sorted(seasons)))
    return build_features(games, results, odds, targets), targets
