"""Vectors for given games from PostgreSQL, through the same pipeline as training.

``compute_vectors`` recomputes every timeline from the whole history (the reference, and the
peer the benchmark measures: seconds a miss); the service asks ``features/live.py`` instead,
which keeps the timelines and answers a miss of a few games in a few milliseconds (p50
3.7 ms on a busy machine, ``loadtests/bench_feature_miss.py``) with the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from features.lines import CURRENT_PRICES, OPEN_PRICES, SEEN
from features.pipeline import build_features, features_at, prepare
from features.source import (
    load_announced,
    load_games,
    load_history,
    load_results,
    load_snapshots,
    with_cutoffs,
)
from features.timelines import Timelines, done_frame
from features.vectors import FeatureVector, GameMeta
from storage.postgres import Conn

META_GAME = ("home_team", "away_team", "game_date", "scheduled_start", "game_type")


class UnknownGames(LookupError):
    def __init__(self, game_ids: list[str]) -> None:
        self.game_ids = game_ids
        super().__init__(f"unknown game ids: {', '.join(game_ids)}")


async def load_targets(
    conn: Conn, game_ids: list[str], *, cutoff_minutes: int, now: datetime | None
) -> pl.DataFrame:
    """The games as targets (cutoff, horizon = min(cutoff, now)); unknown ids raise."""
    targets = with_cutoffs(await load_games(conn, game_ids=game_ids), cutoff_minutes, now)
    missing = sorted(set(game_ids) - set(targets["game_id"].to_list()))
    if missing:
        raise UnknownGames(missing)
    return targets


def _meta(row: dict[str, Any]) -> GameMeta:
    return GameMeta(
        home_team=row["home_team"],
        away_team=row["away_team"],
        game_date=row["game_date"].isoformat(),
        scheduled_start=row["scheduled_start"],
        game_type=row["game_type"],
        **{c: row[c] for c in (*OPEN_PRICES, *CURRENT_PRICES, *SEEN)},
    )


def frame_to_vectors(frame: pl.DataFrame, targets: pl.DataFrame) -> dict[str, FeatureVector]:
    """Pack ``features_at`` rows (features and prices) plus game metadata into vectors."""
    info = frame.join(targets.select("game_id", "horizon", *META_GAME), on="game_id")
    values = info.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    out: dict[str, FeatureVector] = {}
    for i, row in enumerate(info.iter_rows(named=True)):
        out[row["game_id"]] = FeatureVector(
            game_id=row["game_id"],
            feature_version=FEATURE_VERSION,
            as_of=row["as_of"] or row["horizon"],
            cutoff=row["cutoff"],
            horizon=row["horizon"],
            values=np.ascontiguousarray(values[i]),
            meta=_meta(row),
        )
    return out


async def compute_vectors(
    conn: Conn,
    game_ids: list[str],
    *,
    cutoff_minutes: int,
    now: datetime | None = None,
) -> dict[str, FeatureVector]:
    """Vectors of ``game_ids`` as of min(cutoff, now), recomputed from the whole history."""
    targets = await load_targets(conn, game_ids, cutoff_minutes=cutoff_minutes, now=now)
    until = targets["horizon"].max()
    assert isinstance(until, datetime)
    games, results = await load_results(conn, until=until)
    base = prepare(targets, await load_announced(conn, game_ids))
    timelines = Timelines.build(done_frame(games, results))
    frame = features_at(timelines, await load_snapshots(conn, game_ids), base)
    return frame_to_vectors(frame, targets)


async def compute_frame(
    conn: Conn, *, cutoff_minutes: int, seasons: set[int] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The offline training frame: features for every game (or ``seasons``) as of its cutoff,
    plus the targets with metadata. Same code as ``compute_vectors``."""
    history = await load_history(conn)
    targets = with_cutoffs(await load_games(conn), cutoff_minutes)
    if seasons is not None:
        targets = targets.filter(pl.col("season").is_in(sorted(seasons)))
    frame = build_features(
        history.games, history.results, history.snapshots, history.announced, targets
    )
    return frame, targets
