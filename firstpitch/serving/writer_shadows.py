"""Challengers scored in the prediction log's writer process (``log_writer.py``), where the
models run in the API process: a frame that names challengers (``log_relay.hand_over``) is
scored here, off the worker's core, from the feature vectors its computed games carry.

What a frame's challengers make is what ``shadow_queue.score`` makes in the worker, bit for
bit apart from the record ids: each computed game once (a cache hit had its challengers
scored when it was computed), the served record with each challenger's answer in place of
its model's champion's (the lines ``shadow.records`` encodes to, made as ``log_lines``
makes a frame's), the other model's probability the served one
(the champion's own answer to the same row), the betting policy the request logged. A test
compares the two (``tests/serving/test_writer_shadows.py``).

Boosters are loaded once a version (``runners/versions.py``: the BentoML store, else the
MLflow registry), off the writer's event loop. The frames of one read of the socket are
scored together: one booster call a version for all their games. A version that cannot be
loaded loses those frames' shadow records (counted in ``failed``, logged), never a served
one: the served records of a read are queued before their challengers are scored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from firstpitch.serving import betting, shadow, shaping
from firstpitch.serving.log_lines import frame_lines
from storage.log_vectors import Vectors

log = logging.getLogger("firstpitch.log_writer")
VERSION_OF = {"home_win": "home_model_version", "total_over": "total_model_version"}
# where a game's values (``shaping.RECORD_FIELDS``) hold its probabilities and its odds
PROBS = shaping.RECORD_FIELDS.index("home_ml_probability")
ODDS = shaping.RECORD_FIELDS.index("odds_used")
VECTOR = shaping.RECORD_FIELDS.index("feature_vector")


class WriterShadows:
    def __init__(self, tracking_uri: str, artifacts: Path) -> None:
        self.tracking_uri, self.artifacts = tracking_uri, artifacts
        self._store: Any = None  # runners.versions.VersionedBoosters, made at first use
        self._boosters: dict[tuple[str, str], Any] = {}
        self._loading: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._policies: dict[tuple[Any, ...], betting.BettingPolicy] = {}
        self.scored = 0  # shadow records made
        self.failed = 0  # games whose challengers could not be scored

    async def lines(
        self,
        frame: tuple[Any, ...],
        challengers: tuple[shadow.Challenger, ...],
        vectors: Vectors,
    ) -> list[bytes]:
        """The queue lines of the shadow records of ``frame``'s computed games."""
        return await self.lines_many([(frame, challengers)], vectors)

    async def lines_many(
        self,
        frames: Sequence[tuple[tuple[Any, ...], tuple[shadow.Challenger, ...]]],
        vectors: Vectors,
    ) -> list[bytes]:
        """``lines`` of several frames (those of one read of the socket) in order, each
        challenger version's booster called once over all their computed games."""
        picks = [(f, c, g) for f, c in frames if (g := _computed(f))]
        if not picks:
            return []
        try:
            x = np.vstack([np.frombuffer(g[VECTOR], dtype="<f8") for *_, gs in picks for g in gs])
            predicted = await self._predicted(x, picks)
        except Exception:
            lost = sum(len(gs) for *_, gs in picks)
            self.failed += lost
            log.exception("scoring %d games' challengers failed: their shadow records are lost",
                          lost)  # fmt: skip
            return []
        lines: list[bytes] = []
        start = 0
        columns = {key: probs.tolist() for key, probs in predicted.items()}
        for (base, latency_ms, *_), challengers, games in picks:
            rows = slice(start, start + len(games))
            start = rows.stop
            policy = self._policy(base["policy"])
            for challenger in challengers:
                # a model the challenger keeps answers as served: its column, and its market's
                # recommendation, are the served record's
                home, total = (
                    None if version == base[VERSION_OF[target]] else columns[target, version][rows]
                    for target, version in zip(VERSION_OF, challenger.versions, strict=True)
                )
                shadowed = _frame(base, latency_ms, games, challenger, home, total, policy)
                lines += frame_lines(shadowed, vectors)
        self.scored += len(lines)
        return lines

    def _policy(self, settings: dict[str, Any]) -> betting.BettingPolicy:
        """The betting policy of these settings, made once (a frame carries its settings)."""
        key = tuple(settings.items())
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = betting.BettingPolicy(**settings)
            while len(self._policies) > 8:
                self._policies.pop(next(iter(self._policies)))
        return policy

    async def _predicted(
        self,
        x: np.ndarray,
        picks: list[tuple[tuple[Any, ...], tuple[shadow.Challenger, ...], list[Any]]],
    ) -> dict[tuple[str, str], np.ndarray]:
        """Each (target, version) some challenger is scored by, in place of the champion its
        frame was served by, predicted for every row of ``x``."""
        wanted = {
            (target, version)
            for (base, *_), challengers, _ in picks
            for challenger in challengers
            for target, version in zip(VERSION_OF, challenger.versions, strict=True)
            if version != base[VERSION_OF[target]]
        }
        out = {}
        for target, version in sorted(wanted):
            booster = await self._booster(target, version)
            out[target, version] = np.asarray(booster.predict(x), dtype=np.float64)
        return out

    async def _booster(self, target: str, version: str) -> Any:
        """The version's booster; a load under way is awaited, not started again (a
        window's scoring and a full read's can both want a version not loaded yet)."""
        key = (target, version)
        booster = self._boosters.get(key)
        if booster is not None:
            return booster
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.create_task(
                asyncio.to_thread(self._load, target, version)
            )
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        booster = await asyncio.shield(loading)  # one waiter cancelled: the load goes on
        if key not in self._boosters:
            self._boosters[key] = booster
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


def _computed(frame: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The frame's computed games (values, not a cache hit's bytes), each game once."""
    _, _, games, hits = frame
    picked, seen = [], set()
    for game, hit in zip(games, hits, strict=True):
        if hit is False and type(game) is tuple and game[0] not in seen:
            seen.add(game[0])
            picked.append(game)
    return picked


def _frame(
    base: dict[str, Any],
    latency_ms: float,
    games: list[tuple[Any, ...]],
    challenger: shadow.Challenger,
    home: list[float] | None,
    total: list[float] | None,
    policy: betting.BettingPolicy,
) -> tuple[Any, ...]:
    """The challenger's shadow records of ``games`` as a frame of their own, which
    ``frame_lines`` turns into the lines ``shadow.records`` would encode to: the served
    records' fields, the challenger's names, its probabilities (``home``, ``total``: None
    where it keeps the champion's) and recommendations."""
    head = base | {"model_name": challenger.info["name"],
                   "model_version": challenger.info["version"],
                   "home_model_version": challenger.versions[0],
                   "total_model_version": challenger.versions[1], "shadow": True}  # fmt: skip
    out = []
    for i, game in enumerate(games):
        p_home, p_over, odds, recs = game[PROBS : ODDS + 2]
        if home is not None:
            p_home = home[i]
        if total is not None:
            p_over = total[i]
        kept = recs if type(recs) is dict else {}
        recs = {
            "moneyline": kept["moneyline"]
            if home is None and "moneyline" in kept
            else betting.moneyline(p_home, odds, policy),
            "total": kept["total"]
            if total is None and "total" in kept
            else betting.total(p_over, odds, policy),
        }
        out.append((*game[:PROBS], p_home, p_over, odds, recs, *game[ODDS + 2 :]))
    return head, latency_ms, out, [False] * len(out)
