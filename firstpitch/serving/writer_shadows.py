"""Challengers scored in the prediction log's writer process (``log_writer.py``), where the
models run in the API process: a frame that names challengers (``log_relay.hand_over``) is
scored here, off the worker's core, from the feature vectors its computed games carry.

What a frame's challengers make is what ``shadow_queue.score`` makes in the worker, bit for
bit apart from the record ids: each computed game once (a cache hit had its challengers
scored when it was computed), the served record with each challenger's answer in place of
its model's champion's (``shadow.records``), the other model's probability the served one
(the champion's own answer to the same row), the betting policy the request logged. A test
compares the two (``tests/serving/test_writer_shadows.py``).

Boosters are loaded once a version (``runners/versions.py``: the BentoML store, else the
MLflow registry), off the writer's event loop. A version that cannot be loaded loses that
frame's shadow records (counted in ``failed``, logged), never a served one: the served
records of a frame are queued before its challengers are scored.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np

from firstpitch.serving import betting, shadow
from firstpitch.serving.log_lines import records
from storage.log_vectors import Vectors

log = logging.getLogger("firstpitch.log_writer")
VERSION_OF = {"home_win": "home_model_version", "total_over": "total_model_version"}
PROBABILITY = (("home_win", "home_ml_probability"), ("total_over", "total_over_probability"))


class WriterShadows:
    def __init__(self, tracking_uri: str, artifacts: Path) -> None:
        self.tracking_uri, self.artifacts = tracking_uri, artifacts
        self._store: Any = None  # runners.versions.VersionedBoosters, made at first use
        self._boosters: dict[tuple[str, str], Any] = {}
        self.scored = 0  # shadow records made
        self.failed = 0  # games whose challengers could not be scored

    async def lines(
        self,
        frame: tuple[Any, ...],
        challengers: tuple[shadow.Challenger, ...],
        vectors: Vectors,
    ) -> list[bytes]:
        """The queue lines of the shadow records of ``frame``'s computed games."""
        base, latency_ms, games, hits = frame
        picked, seen = [], set()
        for game, hit in zip(games, hits, strict=True):
            if hit is False and type(game) is tuple and game[0] not in seen:
                seen.add(game[0])
                picked.append(game)
        if not picked:
            return []
        served = records((base, latency_ms, picked, [False] * len(picked)))
        try:
            x = np.vstack([np.frombuffer(r["feature_vector"], dtype="<f8") for r in served])
            columns = await self._columns(x, served, challengers)
        except Exception:
            self.failed += len(served)
            log.exception("scoring %d games' challengers failed: their shadow records are lost",
                          len(served))  # fmt: skip
            return []
        policy = betting.BettingPolicy(**base["policy"])
        out: list[dict[str, Any]] = []
        for i, record in enumerate(served):
            scored = [(c, cols[i]) for c, cols in zip(challengers, columns, strict=True)]
            out += shadow.records(record, record, scored, policy)
        self.scored += len(out)
        return vectors.encode(out)

    async def _columns(
        self,
        x: np.ndarray,
        served: list[dict[str, Any]],
        challengers: tuple[shadow.Challenger, ...],
    ) -> list[np.ndarray]:
        """Each challenger's (n, 2) probabilities: its own model's by its booster, the other
        model's the served answer (that model's champion, on the same rows)."""
        served_prob = {
            target: np.array([r[key] for r in served], dtype=np.float64)
            for target, key in PROBABILITY
        }
        base = served[0]
        predicted: dict[tuple[str, str], np.ndarray] = {}
        out = []
        for challenger in challengers:
            cols = []
            for target, version in zip(VERSION_OF, challenger.versions, strict=True):
                if version == base[VERSION_OF[target]]:
                    cols.append(served_prob[target])
                    continue
                if (target, version) not in predicted:
                    booster = await self._booster(target, version)
                    predicted[target, version] = np.asarray(booster.predict(x), dtype=np.float64)
                cols.append(predicted[target, version])
            out.append(np.column_stack(cols))
        return out

    async def _booster(self, target: str, version: str) -> Any:
        booster = self._boosters.get((target, version))
        if booster is None:
            booster = await asyncio.to_thread(self._load, target, version)
            self._boosters[target, version] = booster
            while len(self._boosters) > 8:  # retired challengers' boosters go
                self._boosters.pop(next(iter(self._boosters)))
        return booster

    def _load(self, target: str, version: str) -> Any:
        from runners.versions import VersionedBoosters  # the writer imports models only here
        from training.dataset import REGISTERED_NAMES

        if self._store is None:
            self._store = VersionedBoosters(self.tracking_uri, self.artifacts)
        log.info("loading %s version %s for its shadow records", REGISTERED_NAMES[target], version)
        return self._store.get(REGISTERED_NAMES[target], version)
