"""Scoring a season through the serving path, as of each game's cutoff.

The run builds the service's own ``Predictor`` for the versions asked for — the same
feature code (``features/live.py``: the incremental state the service asks), the same model
backend (``LocalModels`` bound to the versions, as a worker serves them), the same betting
policy and the same record a served prediction logs — and drives its clock to each cutoff
in turn, predicting the games that share it. What differs is only where things go: vectors
are held for the run instead of in Redis (a backtest computes every vector itself), nothing
is cached, and the records are collected for the run's tables instead of the live log.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from features.cutoff import CutoffViolation
from features.live import LiveFeatures
from features.store import FeatureStore
from features.vectors import FeatureVector
from firstpitch.clock import Clock
from firstpitch.serving.cache import PredictionCache
from firstpitch.serving.lifecycle import BoundModels
from firstpitch.serving.models import ModelBackend
from firstpitch.serving.predictor import Predictor, ServedModels
from firstpitch.settings import Settings
from storage.postgres import Conn, Database
from storage.prediction_log import PredictionLogger

ENDPOINT = "backtest"


class RunVectors(FeatureStore):
    """The run's own vectors, held in memory: a backtest never reads the live feature store
    (whose vectors were computed at other moments) and never writes into it."""

    def __init__(self) -> None:
        self.held: dict[str, FeatureVector] = {}

    async def read(
        self, game_ids: list[str], version: str
    ) -> tuple[dict[str, FeatureVector], list[CutoffViolation]]:
        return {g: self.held[g] for g in game_ids if g in self.held}, []

    async def write(self, vectors: Iterable[FeatureVector], batch: int = 1000) -> int:
        vectors = list(vectors)
        self.held.update({v.game_id: v for v in vectors})
        return len(vectors)


class RunRecords(PredictionLogger):
    """Where the run's predictor logs: the records are kept for the run's tables (written in
    one transaction at the end), never queued for the live prediction log."""

    enabled = True

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def log_many(self, records: list[dict[str, Any]]) -> None:
        self.records.extend(records)


@dataclass(frozen=True)
class Game:
    game_id: str
    cutoff: datetime


async def season_games(
    conn: Conn, season: int, date_from: Any, date_to: Any, cutoff_minutes: int
) -> list[Game]:
    """Every game of the season (regular and postseason) on the dates asked, by cutoff."""
    rows = await conn.fetch(
        """SELECT game_id, scheduled_start FROM games
           WHERE season = $1 AND game_date BETWEEN $2 AND $3
           ORDER BY scheduled_start, game_id""",
        season,
        date_from,
        date_to,
    )
    gap = timedelta(minutes=cutoff_minutes)
    return [Game(r["game_id"], r["scheduled_start"] - gap) for r in rows]


def run_predictor(
    settings: Settings,
    db: Database,
    backend: ModelBackend,
    served: ServedModels,
    clock: Clock,
) -> tuple[Predictor, RunRecords]:
    """The service's predictor for ``served``'s versions, with the run's store and log."""
    records = RunRecords()
    predictor = Predictor(
        settings.model_copy(update={"prediction_cache": False}),
        clock,
        RunVectors(),
        # never read or written with the cache off; it needs no connection
        PredictionCache(None, served.versions, served.feature_version),  # type: ignore[arg-type]
        db,
        BoundModels(backend, served.versions),
        served,
        records,
        LiveFeatures(settings.cutoff_minutes),
    )
    return predictor, records


async def score(
    predictor: Predictor,
    clock: Clock,
    games: list[Game],
    model_name: str,
    run_id: str,
    progress: Any = None,
) -> dict[str, float]:
    """Predict every game with the clock at its cutoff (games sharing a cutoff together,
    as one batch request); the records land in the predictor's log. Timings returned."""
    started = time.perf_counter()
    calls = 0
    for cutoff, group in itertools.groupby(games, key=lambda g: g.cutoff):
        ids = [g.game_id for g in group]
        clock.drive(cutoff)
        await predictor.predict(ids, model_name, endpoint=ENDPOINT, request_id=run_id)
        calls += 1
        if progress is not None:
            progress(len(ids))
    return {"scoring_s": time.perf_counter() - started, "calls": calls}
