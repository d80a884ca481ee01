"""Challengers scored in the log's writer process (``firstpitch/serving/writer_shadows.py``)
make the queue lines the worker's shadow queue makes for the same request (``shadow_queue.
score``, then the log's encoding), their fresh record ids aside: each computed game once, no
cache hit, the other model's probability the served one. A version that cannot be loaded
loses only the shadow lines. The boosters are fakes whose answer depends on the row and the
version (the real ones are tested end to end in tests/e2e/test_shadow.py, models in process).
"""

from __future__ import annotations

import asyncio
import logging
import operator
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from firstpitch.serving import betting, shadow, shaping, writer_shadows
from firstpitch.serving.shadow_queue import Waiting, score
from firstpitch.serving.writer_shadows import WriterShadows
from storage.log_vectors import Vectors

HOME, TOTAL = "firstpitch-home-win", "firstpitch-total-over"
CHAMPIONS = {
    "home_win": {"name": HOME, "version": "3", "feature_version": "fs1"},
    "total_over": {"name": TOTAL, "version": "2", "feature_version": "fs1"},
}
ANNOUNCED = {
    "home_win": [{"name": HOME, "version": "4", "feature_version": "fs1"},
                 {"name": HOME, "version": "6", "feature_version": "fs1"}],
    "total_over": [{"name": TOTAL, "version": "5", "feature_version": "fs1"}],
}  # fmt: skip
POLICY = betting.BettingPolicy(min_edge=0.0, min_confidence=0.5)
BASE = {"request_id": "q1", "endpoint": "predict_batch", "model_name": HOME,
        "model_version": "3", "home_model_version": "3", "total_model_version": "2",
        "predicted_at": "2021-07-04T15:00:00+00:00", "policy": POLICY.settings(),
        "shadow": False}  # fmt: skip
fields = operator.itemgetter(*shaping.RECORD_FIELDS)


class Booster:
    """A model of ``target`` at ``version``: its answer is a function of the row and version."""

    def __init__(self, target: str, version: str) -> None:
        self.column, self.version = (0 if target == "home_win" else 1), int(version)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(0.2 + 0.6 * x[:, self.column] / (1 + self.version))


class Models:
    """The worker's side: every set's columns by the same boosters."""

    async def predict_sets(self, x: np.ndarray, sets: list[tuple[str, str]]) -> list[Any]:
        return [np.column_stack([Booster("home_win", h).predict(x),
                                 Booster("total_over", t).predict(x)]) for h, t in sets]  # fmt: skip


class Shadows(WriterShadows):
    def __init__(self, missing: str = "") -> None:
        super().__init__("unused", Path("unused"))
        self.missing, self.loads = missing, 0

    def _load(self, target: str, version: str) -> Any:
        self.loads += 1
        if version == self.missing:
            raise LookupError(f"version {version} is in no store")
        return Booster(target, version)


def answer(i: int, x: np.ndarray) -> dict[str, Any]:
    """A computed game's answer: the champions' probabilities of its row, its vector."""
    p_home = float(Booster("home_win", "3").predict(x[None])[0])
    p_over = float(Booster("total_over", "2").predict(x[None])[0])
    odds = {"open_ml_home": -130.0 + i, "open_ml_away": 120.0, "open_total": 8.5,
            "open_over_price": -110.0, "open_under_price": -105.0}  # fmt: skip
    return {
        "game_id": f"CIN2021070{i}", "feature_version": "fs1",
        "feature_as_of": "2021-07-04T13:00:00+00:00",
        "feature_cutoff_time": "2021-07-04T14:00:00+00:00", "feature_hash": f"{i:064x}",
        "home_ml_probability": p_home, "total_over_probability": p_over, "odds_used": odds,
        "betting_recommendations": betting.recommendations(p_home, p_over, odds, POLICY),
        "feature_vector": x.astype("<f8").tobytes(),
    }  # fmt: skip


def without_ids(lines: list[bytes]) -> list[bytes]:
    """The lines without their fresh record ids, in order (the writer makes them challenger
    by challenger, the worker game by game)."""
    return sorted(bytes(line).split(b"\t", 1)[1] for line in lines)


def request(n: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    rows = np.random.default_rng(7).uniform(0.05, 0.95, size=(n, 6))
    return [answer(i, rows[i]) for i in range(n)], rows


async def test_the_writer_makes_the_lines_the_worker_would_make() -> None:
    answers, rows = request(5)
    # one game's text needs escaping: its lines take the general path, on both sides
    answers[3]["feature_version"] = "fs1\\odd"
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")
    assert len(challengers) == 3
    served = [shaping.record(BASE, a, False, 2.5) for a in answers]
    worker = await score([Waiting(Models(), challengers, POLICY, served, answers, rows)])
    expected = Vectors().encode(worker)

    # the same request as a frame: a cache hit and a game asked twice among the computed ones
    hit = msgpack.packb(answers[0] | {"game_id": "PIT202107040"})
    games = [fields(a) for a in answers]
    frame = (BASE, 2.5, [games[0], hit, *games[1:], games[2]], [False, True] + [False] * 5)
    shadows = Shadows()
    got = await shadows.lines(frame, challengers, Vectors())

    assert without_ids(got) == without_ids(expected)
    assert len(got) == 15 and shadows.scored == 15 and shadows.failed == 0
    assert shadows.loads == 3  # the challengers' versions; the champions' answers are served
    again = await shadows.lines(frame, challengers, Vectors())
    assert without_ids(again) == without_ids(expected) and shadows.loads == 3  # loaded once
    assert len({bytes(line).split(b"\t", 1)[0] for line in got + again}) == 30  # fresh ids


async def test_a_frame_of_cache_hits_only_scores_nothing() -> None:
    answers, _ = request(2)
    frame = (BASE, 1.0, [msgpack.packb(a) for a in answers], [True, True])
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")
    shadows = Shadows()
    assert await shadows.lines(frame, challengers, Vectors()) == [] and shadows.loads == 0


async def test_a_version_that_cannot_load_loses_only_the_shadow_lines(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a logging config applied earlier in the session (a server's) may have disabled it
    monkeypatch.setattr(writer_shadows.log, "disabled", False)
    monkeypatch.setattr(writer_shadows.log, "propagate", True)
    caplog.set_level(logging.ERROR, logger=writer_shadows.log.name)
    answers, _ = request(3)
    frame = (BASE, 1.0, [fields(a) for a in answers], [False] * 3)
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")
    shadows = Shadows(missing="5")
    assert await shadows.lines(frame, challengers, Vectors()) == []
    assert shadows.failed == 3 and shadows.scored == 0
    assert "shadow records are lost" in caplog.text
    shadows.missing = ""  # the version is in the store now: the next frame is scored
    assert len(await shadows.lines(frame, challengers, Vectors())) == 9


class Counted(Shadows):
    """Counts the boosters' calls."""

    calls = 0

    def _load(self, target: str, version: str) -> Any:
        booster, outer = super()._load(target, version), self

        class Calls:
            def predict(self, x: np.ndarray) -> np.ndarray:
                outer.calls += 1
                return booster.predict(x)

        return Calls()


async def test_the_frames_of_one_read_are_scored_together_as_each_alone() -> None:
    answers, _ = request(6)
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")
    games = [fields(a) for a in answers]
    # served by the total-over challenger's version: that challenger scores nothing new
    # here, the home-win challengers are scored with total-over version 2 in its place
    other = BASE | {"request_id": "q3", "total_model_version": "5"}
    frames = [
        (BASE, 1.0, games[:2], [False, False]),
        (BASE | {"request_id": "q2"}, 2.0, [msgpack.packb(answers[2])], [True]),
        (other, 3.0, games[3:], [False] * 3),
    ]
    alone = [line for f in frames for line in await Shadows().lines(f, challengers, Vectors())]
    shadows = Counted()
    together = await shadows.lines_many([(f, challengers) for f in frames], Vectors())

    def tails(lines: list[bytes]) -> list[bytes]:  # in order, without the fresh record ids
        return [bytes(line).split(b"\t", 1)[1] for line in lines]

    assert tails(together) == tails(alone) and len(together) == 2 * 3 + 3 * 3
    assert shadows.calls == 4  # one a version, over all five games (alone: 3 + 3 calls)
    assert shadows.scored == 15


async def test_a_version_is_loaded_once_while_two_scorings_want_it() -> None:
    """A window's scoring and a full read's both start before the version has loaded: one
    load, both scored by it."""
    started = threading.Event()

    class Slow(Shadows):
        def _load(self, target: str, version: str) -> Any:
            started.set()
            time.sleep(0.2)  # in the load's thread: the loop goes on meanwhile
            return super()._load(target, version)

    answers, _ = request(4)
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs1")[:1]
    frames = [((BASE, 2.5, [fields(a)], [False]), challengers) for a in answers]
    shadows, vectors = Slow(), Vectors()
    first = asyncio.create_task(shadows.lines_many(frames[:2], vectors))
    await asyncio.to_thread(started.wait, 5)
    second = await shadows.lines_many(frames[2:], vectors)
    assert shadows.loads == 1
    assert len(await first) == 2 and len(second) == 2 and shadows.failed == 0
    await shadows.lines_many(frames[:1], vectors)  # loaded: no load again
    assert shadows.loads == 1 and not shadows._loading
