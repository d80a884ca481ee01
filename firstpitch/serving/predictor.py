"""The prediction path: cache -> feature store -> (Postgres on a miss) -> models -> betting.

Per request (one game or a batch): one MGET on the prediction cache, one MGET on the feature
store for the misses, vectors computed by the incremental feature state (features/live.py:
the training pipeline's code on timelines kept current with Postgres) only for what the
store lacks (then written back), one model call, one pipelined cache write, and one
record per served prediction queued for the Postgres log.

Cutoff rule: a vector is used only if its as-of is at or before its game's cutoff (else it is
refused, counted and recomputed). Before the cutoff the freshest vector is served: one whose
horizon is within ``FRESHNESS`` of now, else it is recomputed as of now
(``freshness.py``). What an answer holds, its response and its log record: ``shaping.py``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import numpy as np

from features.cutoff import CutoffViolation
from features.live import LiveFeatures
from features.online import UnknownGames
from features.store import FeatureStore
from features.vectors import FeatureVector
from firstpitch.clock import Clock
from firstpitch.serving import betting, shadow, shaping
from firstpitch.serving.cache import PredictionCache
from firstpitch.serving.errors import (
    CutoffRefused,
    GameCalledOff,
    UnknownGame,
)
from firstpitch.serving.freshness import (
    FRESHNESS,
    cached_current,
    check_predictable,
    current,
)
from firstpitch.serving.log_relay import LogRelay, hand_over
from firstpitch.serving.metrics import metrics, observe_many
from firstpitch.serving.models import ModelBackend
from firstpitch.serving.shadow_queue import ShadowQueue, Waiting
from firstpitch.serving.shaping import ServedModels
from firstpitch.settings import Settings
from storage import live_queries
from storage.postgres import Database
from storage.prediction_log import PredictionLogger

log = logging.getLogger(__name__)
__all__ = ["Predictor", "ServedModels"]  # ServedModels: its signature's, imported from here


class Predictor:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: FeatureStore,
        cache: PredictionCache,
        db: Database,
        models: ModelBackend,
        served: ServedModels,
        logger: PredictionLogger,
        features: LiveFeatures | None = None,
        challengers: tuple[shadow.Challenger, ...] = (),
        shadows: ShadowQueue | None = None,
        relay: LogRelay | None = None,
    ) -> None:
        self.settings, self.clock, self.store, self.cache = settings, clock, store, cache
        self.db, self.models, self.served, self.logger = db, models, served, logger
        self.challengers = challengers
        self.relay = relay  # the log's writer process, for the served records of a request
        # challengers score after the response (without a queue: before it, the same way)
        self.shadows = shadows or ShadowQueue(logger)
        self.features = features or LiveFeatures(settings.cutoff_minutes)
        self.policy = betting.BettingPolicy.from_settings(settings)
        self.policy_settings = self.policy.settings()

    # ------------------------------------------------------------------ vectors
    async def vectors(self, game_ids: list[str], now: datetime) -> dict[str, FeatureVector]:
        version = self.served.feature_version
        found, refused = await self.store.read(game_ids, version)
        for violation in refused:
            metrics().cutoff_refusals.inc()
            log.warning("refused vector: %s", violation)
        stale = [g for g, v in found.items() if not current(v.horizon, v.cutoff, now)]
        missing = [g for g in game_ids if g not in found or g in stale]
        if missing:
            fresh = await self.fresh_vectors(missing, now)
            await self.store.write(fresh.values())
            found.update(fresh)
        return found

    async def fresh_vectors(self, game_ids: list[str], now: datetime) -> dict[str, FeatureVector]:
        """The one place vectors are computed from the database (as of min(cutoff, now))."""
        async with self.db.connection() as conn:
            gone = await live_queries.called_off(conn, game_ids)
            if gone:
                raise GameCalledOff.of(gone)
            try:
                fresh = await self.features.vectors(conn, game_ids, now=now)
            except UnknownGames as exc:
                raise UnknownGame(
                    f"unknown game {', '.join(exc.game_ids)}: ids are home team + yyyymmdd "
                    "+ game number, e.g. CHN202104010"
                ) from None
        for vector in fresh.values():
            if vector.as_of > vector.cutoff:  # never happens by construction; never served
                metrics().cutoff_refusals.inc()
                raise CutoffRefused(
                    str(CutoffViolation(vector.game_id, vector.as_of, vector.cutoff))
                )
        return fresh

    async def refresh(
        self,
        game_ids: list[str],
        now: datetime,
        scored: dict[str, list[tuple[shadow.Challenger, np.ndarray]]] | None = None,
    ) -> tuple[dict[str, FeatureVector], dict[str, dict[str, Any]]]:
        """Fresh vectors, computed now whatever the store holds, and their predictions (with
        ``scored``: the challengers' too); nothing is written (re-pricing writes both with its
        event, in one transaction)."""
        vectors = await self.fresh_vectors(game_ids, now)
        x = np.vstack([vectors[g].values for g in game_ids])
        probs = await self._score(x, game_ids, scored)
        entries = {g: self._entry(vectors[g], probs[i], None, now) for i, g in enumerate(game_ids)}
        return vectors, entries

    async def standing(self, game_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        """The games' current predictions (cached, else computed and cached); nothing logged."""
        cached = await self._cached(game_ids, now)
        misses = [g for g in game_ids if g not in cached]
        return cached | (await self._compute(misses, now, False) if misses else {})

    async def _cached(
        self, game_ids: list[str], now: datetime, raws: dict[str, bytes] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The games' current cached answers (with ``raws``: their msgpack bytes put there)."""
        if not self.settings.prediction_cache:
            return {}
        found = await self.cache.get_many_raw(game_ids)
        current = {g: e for g, (e, _) in found.items() if cached_current(e, now)}
        if raws is not None:
            raws.update((g, found[g][1]) for g in current)
        return current

    def cache_ttl(self, vector: FeatureVector, now: datetime) -> int:
        """An answer made before the cutoff is valid until the next refresh."""
        ttl = self.settings.prediction_ttl_s
        if now < vector.cutoff:
            ttl = int(min(ttl, (vector.cutoff - now).total_seconds(), FRESHNESS.seconds))
        return ttl

    # ------------------------------------------------------------------ predict
    async def predict(
        self,
        game_ids: list[str],
        model_name: str | None,
        *,
        explain: bool = False,
        endpoint: str,
        request_id: str,
    ) -> list[dict[str, Any]]:
        started = time.perf_counter()
        name = model_name or self.settings.default_model
        target = self.served.target_of(name)
        now = self.clock.now()
        unique = list(dict.fromkeys(game_ids))
        raws: dict[str, bytes] = {}  # the cached answers' bytes, for the log's writer
        cached = await self._cached(unique, now, raws)
        hits = {g: e for g, e in cached.items() if not explain or e.get("explanation")}
        misses = [g for g in unique if g not in hits]
        metrics().cache.labels("hit").inc(len(hits))
        metrics().cache.labels("miss").inc(len(misses))
        entries = dict(hits)
        computed: list[tuple[list[str], np.ndarray]] = []  # games and rows, for the challengers
        if misses:
            entries.update(
                await self._compute(misses, now, explain, computed if self.challengers else None)
            )
        for entry in entries.values():
            check_predictable(entry, now)
        latency_ms = (time.perf_counter() - started) * 1000
        responses = [self.respond(entries[g], name, target, cache_hit=g in hits) for g in game_ids]
        base = self.record_base(name, endpoint, request_id, now)
        if self.logger.enabled:
            records = None
            # the computed games' challengers: by the log's writer process where it can
            ahead = self.challengers if computed and self._writer_scores() else ()
            if not hand_over(self.relay, self.logger, base, latency_ms, game_ids, entries,
                             hits, raws, ahead):  # fmt: skip
                records = [
                    shaping.record(base, entries[g], g in hits, latency_ms) for g in game_ids
                ]
                self.logger.log_many(records)
                ahead = ()
            if computed and self.challengers and not ahead:  # in shadow here, each game once
                rows = dict(zip(*computed[0], strict=True))
                await self._shadow(base, latency_ms, game_ids, hits, entries, rows, records)
        metrics().latency.labels(endpoint).observe(time.perf_counter() - started)
        return responses

    def _writer_scores(self) -> bool:
        return bool(self.challengers) and self.relay is not None and self.relay.scores_challengers

    async def _shadow(
        self,
        base: dict[str, Any],
        latency_ms: float,
        game_ids: list[str],
        hits: dict[str, dict[str, Any]],
        entries: dict[str, dict[str, Any]],
        rows: dict[str, np.ndarray],
        records: list[dict[str, Any]] | None,
    ) -> None:
        """Queue the computed games (each once, however often asked) for the challengers,
        with their served records (``records``, where they were made here)."""
        served, answers, picked = [], [], []
        for i, game_id in enumerate(game_ids):
            if game_id not in hits and game_id in rows:
                served.append(
                    records[i]
                    if records is not None
                    else shaping.record(base, entries[game_id], False, latency_ms)
                )
                answers.append(entries[game_id])
                picked.append(rows.pop(game_id))
        waiting = Waiting(
            self.models, self.challengers, self.policy, served, answers, np.vstack(picked)
        )
        await self.shadows.submit(waiting)

    async def _compute(
        self,
        game_ids: list[str],
        now: datetime,
        explain: bool,
        computed: list[tuple[list[str], np.ndarray]] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The games' answers by the champions (with ``computed``: the games and their
        feature rows put there, for their challengers)."""
        vectors = await self.vectors(game_ids, now)
        x = np.vstack([vectors[g].values for g in game_ids])
        probs = await self.models.predict(x)
        if computed is not None:
            computed.append((game_ids, x))
        contribs = await self.models.explain(x) if explain else None
        entries, to_cache = {}, []
        for i, game_id in enumerate(game_ids):
            vector = vectors[game_id]
            entry = self._entry(
                vector, probs[i], contribs[i] if contribs is not None else None, now
            )
            entries[game_id] = entry
            to_cache.append((game_id, entry, self.cache_ttl(vector, now)))
        ages = [max(0.0, (now - vectors[g].as_of).total_seconds()) for g in game_ids]
        observe_many(metrics().feature_age, ages)
        if self.settings.prediction_cache:
            await self.cache.put_many(to_cache)
        return entries

    async def _score(
        self,
        x: np.ndarray,
        game_ids: list[str],
        scored: dict[str, list[tuple[shadow.Challenger, np.ndarray]]] | None,
    ) -> np.ndarray:
        """The champions' probabilities of the rows; with ``scored``, every challenger's too,
        from the same model call (game -> [(challenger, its probabilities)])."""
        if scored is None or not self.challengers:
            return await self.models.predict(x)
        sets = [self.served.versions, *(c.versions for c in self.challengers)]
        probs, *others = await self.models.predict_sets(x, sets)
        for i, game_id in enumerate(game_ids):
            scored[game_id] = [(c, o[i]) for c, o in zip(self.challengers, others, strict=True)]
        return probs

    def _entry(
        self, vector: FeatureVector, probs: np.ndarray, contribs: np.ndarray | None, now: datetime
    ) -> dict[str, Any]:
        return shaping.entry(vector, probs, contribs, now, self.policy)

    def respond(
        self, entry: dict[str, Any], name: str, target: str, *, cache_hit: bool
    ) -> dict[str, Any]:
        return shaping.respond(entry, self.served, self.policy, name, target, cache_hit=cache_hit)

    def record_base(
        self, name: str, endpoint: str, request_id: str, now: datetime
    ) -> dict[str, Any]:
        """What the log records of one request share (``shaping.record`` adds each game's)."""
        return shaping.record_base(
            self.served, self.policy_settings, name, endpoint, request_id, now
        )
