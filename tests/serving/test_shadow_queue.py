"""Challengers scored after the response (``firstpitch/serving/shadow_queue.py``): a window's
requests share one model call and get the records each would have got alone; the queue is
bounded (a full one makes the request score its own games); shutdown logs what waits, once.
The models are a fake whose answer depends on each row and version, so a row scored against
another game's record shows; the real path is tested end to end in tests/e2e/test_shadow.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from firstpitch.serving import betting, shadow
from firstpitch.serving.shadow_queue import ShadowQueue, Waiting, score

HOME, TOTAL = "firstpitch-home-win", "firstpitch-total-over"
CHAMPIONS = {
    "home_win": {"name": HOME, "version": "3", "feature_version": "fs"},
    "total_over": {"name": TOTAL, "version": "2", "feature_version": "fs"},
}
ANNOUNCED = {
    "home_win": [{"name": HOME, "version": "4", "feature_version": "fs"}],
    "total_over": [{"name": TOTAL, "version": "5", "feature_version": "fs"}],
}
ODDS = {"open_ml_home": -130, "open_ml_away": 120, "open_total": 8.5,
        "open_over_price": -110, "open_under_price": -105}  # fmt: skip
POLICY = betting.BettingPolicy(min_edge=0.0)


class Models:
    """(home, total) probabilities from the row's first two values and the versions."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate: asyncio.Event | None = None  # set: a call waits for it
        self.fail = False

    async def predict_sets(self, x: np.ndarray, sets: list[tuple[str, str]]) -> list[Any]:
        self.calls.append(len(x))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("the model service is down")
        return [np.column_stack([x[:, 0] / (1 + int(h)), x[:, 1] / (1 + int(t))]) for h, t in sets]


class Log:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def log_many(self, records: list[dict[str, Any]]) -> None:
        self.records += records


async def until(ready: Any) -> None:
    """Wait (up to a second) until ``ready()`` holds."""
    for _ in range(100):
        if ready():
            return
        await asyncio.sleep(0.01)


def waiting(models: Models, games: list[str], seed: int) -> Waiting:
    rng = np.random.default_rng(seed)
    rows = rng.uniform(0.1, 0.9, size=(len(games), 4))
    served = [{"record_id": f"r-{g}", "game_id": g, "model_name": HOME, "shadow": False,
               "home_ml_probability": 0.5, "total_over_probability": 0.5, "cache_hit": False}
              for g in games]  # fmt: skip
    entries = [{"odds_used": ODDS} for _ in games]
    challengers = shadow.challengers_of(ANNOUNCED, CHAMPIONS, "fs")
    return Waiting(models, challengers, POLICY, served, entries, rows)


def answers(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a shadow record says, without its fresh record id."""
    return [
        (r["game_id"], r["model_version"], r["home_model_version"], r["total_model_version"],
         r["home_ml_probability"], r["total_over_probability"], repr(r["recommendations"]))
        for r in records
    ]  # fmt: skip


async def test_a_window_shares_one_call_and_each_game_gets_its_own_answer() -> None:
    models = Models()
    a, b = waiting(models, ["A1", "A2"], 1), waiting(models, ["B1", "B2", "B3"], 2)
    alone = await score([a]) + await score([b])
    models.calls.clear()
    together = await score([a, b])
    assert models.calls == [5]  # one call for both requests' rows
    assert answers(together) == answers(alone)
    row_of = {s["game_id"]: item.rows[i] for item in (a, b) for i, s in enumerate(item.served)}
    for r in together:  # each from its own row, by the challenger's version
        x = row_of[r["game_id"]]
        home, total = int(r["home_model_version"]), int(r["total_model_version"])
        assert r["home_ml_probability"] == x[0] / (1 + home)
        assert r["total_over_probability"] == x[1] / (1 + total)
        assert r["shadow"] is True and r["record_id"] != f"r-{r['game_id']}"
    assert {(r["game_id"], r["model_version"]) for r in together} == {
        (g, v) for g in ["A1", "A2", "B1", "B2", "B3"] for v in ("4", "5")
    }


async def test_requests_are_answered_before_their_challengers_score() -> None:
    models, log = Models(), Log()
    queue = ShadowQueue(log, max_games=100, interval_s=0.05)
    queue.start()
    try:
        await queue.submit(waiting(models, ["A1"], 1))
        await queue.submit(waiting(models, ["B1", "B2"], 2))
        assert log.records == [] and queue.depth == 3  # nothing scored on the request path
        await until(lambda: log.records)
        assert models.calls == [3] and len(log.records) == 6 and queue.depth == 0
    finally:
        await queue.close()


async def test_a_full_queue_makes_the_request_score_its_own_games() -> None:
    models, log = Models(), Log()
    queue = ShadowQueue(log, max_games=3, interval_s=10.0)
    queue.start()
    try:
        await queue.submit(waiting(models, ["A1", "A2"], 1))
        await queue.submit(waiting(models, ["B1", "B2"], 2))  # 4 > 3: scored now
        assert queue.depth == 2 and queue.scored_inline == 1
        assert sorted({r["game_id"] for r in log.records}) == ["B1", "B2"]
    finally:
        await queue.close()
    assert sorted({r["game_id"] for r in log.records}) == ["A1", "A2", "B1", "B2"]
    assert len(log.records) == 8  # each game once per challenger, none twice


async def test_shutdown_logs_what_waits_and_what_was_being_scored_once() -> None:
    models, log = Models(), Log()
    models.gate = asyncio.Event()
    queue = ShadowQueue(log, max_games=100, interval_s=0.01)
    queue.start()
    await queue.submit(waiting(models, ["A1"], 1))
    await until(lambda: models.calls)  # the task has taken A1 and waits in its model call
    await queue.submit(waiting(models, ["B1"], 2))
    models.gate.set()  # close() cancels the task mid-call, then scores both itself
    await queue.close()
    assert sorted(r["game_id"] for r in log.records) == ["A1", "A1", "B1", "B1"]
    assert queue.depth == 0


async def test_a_failed_call_does_not_stop_the_queue() -> None:
    models, log = Models(), Log()
    queue = ShadowQueue(log, max_games=100, interval_s=0.01)
    queue.start()
    try:
        models.fail = True
        await queue.submit(waiting(models, ["A1"], 1))
        await until(lambda: models.calls)
        await asyncio.sleep(0.05)
        models.fail = False
        await queue.submit(waiting(models, ["B1"], 2))
        await until(lambda: log.records)
        assert sorted(r["game_id"] for r in log.records) == ["B1", "B1"]
    finally:
        await queue.close()


async def test_without_a_task_a_request_scores_its_games_itself() -> None:
    models, log = Models(), Log()
    await ShadowQueue(log).submit(waiting(models, ["A1"], 1))
    assert len(log.records) == 2


@pytest.mark.parametrize("size", [1, 7])
async def test_a_request_alone_is_scored_from_its_own_rows(size: int) -> None:
    models = Models()
    item = waiting(models, [f"G{i}" for i in range(size)], 3)
    out = await score([item])
    assert len(out) == 2 * size and models.calls == [size]


async def test_enough_waiting_games_are_scored_without_waiting_for_the_window() -> None:
    models, log = Models(), Log()
    queue = ShadowQueue(log, max_games=100, interval_s=30.0, flush_games=3)
    queue.start()
    try:
        await queue.submit(waiting(models, ["A1", "A2"], 1))
        await asyncio.sleep(0.05)
        assert log.records == []  # 2 < 3: the window holds them
        await queue.submit(waiting(models, ["B1"], 2))
        await until(lambda: log.records)
        assert models.calls == [3] and len(log.records) == 6
    finally:
        await queue.close()


async def test_a_shutdown_between_logged_slices_logs_each_record_once() -> None:
    models = Models()
    closing: list[asyncio.Task[None]] = []

    class Closing(Log):
        def log_many(self, records: list[dict[str, Any]]) -> None:
            super().log_many(records)
            if not closing:  # after the first slice: shut down while the rest waits
                closing.append(asyncio.create_task(queue.close()))

    log = Closing()
    queue = ShadowQueue(log, max_games=100, interval_s=0.01)
    queue.start()
    games = [f"G{i:02d}" for i in range(20)]  # 40 records: three slices
    await queue.submit(waiting(models, games, 1))
    await until(lambda: closing)
    await closing[0]
    keys = [(r["game_id"], r["model_version"]) for r in log.records]
    assert len(keys) == 40 and len(set(keys)) == 40
