"""Challengers scored after the response, in the API worker (where the log's writer process
does not score them, ``writer_shadows.py``): the games a request's champions answered wait
here, and a background task scores them for every challenger in one model call per batch of
requests (``interval_s`` apart, or as soon as ``flush_games`` wait), builds their shadow
records (``shadow.records``) and logs them.

So a request pays nothing for its challengers, and a challenger's model call is shared by the
requests of a batch window rather than paid per request. A shadow record is what the same
model call inside the request would have logged, bit for bit: the same rows, versions, odds
and policy (``tests/serving/test_shadow_queue.py``).

Bound: at most ``max_games`` games wait. A request that finds the queue full scores its games
itself before it answers (backpressure: no challenger answer is dropped). ``close()`` scores
whatever waits, before the prediction log closes. A crash loses what waits: shadow records
only, never a served one: at most ``max_games`` games, or ``interval_s`` of traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from firstpitch.serving import betting, shadow

log = logging.getLogger(__name__)
YIELD_EVERY = 16  # games scored, or records logged, between two turns of the event loop


class SetScorer(Protocol):
    async def predict_sets(self, x: np.ndarray, sets: list[tuple[str, str]]) -> list[Any]: ...


class RecordLog(Protocol):
    def log_many(self, records: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class Waiting:
    """One request's games for its challengers: the served records, their answers, their
    feature rows, and what scores them."""

    models: SetScorer
    challengers: tuple[shadow.Challenger, ...]
    policy: betting.BettingPolicy
    served: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    rows: np.ndarray


async def score(batch: list[Waiting]) -> list[dict[str, Any]]:
    """The shadow records of ``batch``: one model call per (models, challengers) group."""
    groups: dict[tuple[int, tuple[tuple[str, str], ...]], list[Waiting]] = {}
    for item in batch:
        groups.setdefault((id(item.models), shadow.keys(item.challengers)), []).append(item)
    out: list[dict[str, Any]] = []
    for items in groups.values():
        first = items[0]
        x = items[0].rows if len(items) == 1 else np.vstack([i.rows for i in items])
        sets = [c.versions for c in first.challengers]
        probs = await first.models.predict_sets(x, sets)
        row = 0
        for item in items:
            for served, entry in zip(item.served, item.entries, strict=True):
                scored = [(c, p[row]) for c, p in zip(first.challengers, probs, strict=True)]
                out += shadow.records(served, entry, scored, item.policy)
                row += 1
                if row % YIELD_EVERY == 0:  # a request that arrives meanwhile is not held up
                    await asyncio.sleep(0)
    return out


class ShadowQueue:
    def __init__(
        self,
        logger: RecordLog,
        max_games: int = 4096,
        interval_s: float = 0.05,
        flush_games: int = 256,
    ) -> None:
        self.logger, self.max_games, self.interval_s = logger, max_games, interval_s
        self.flush_games = flush_games  # this many waiting are scored without waiting longer
        self._waiting: list[Waiting] = []
        self._games = 0
        self._scoring: list[Waiting] = []  # taken by the task, not yet scored
        self._unlogged: list[dict[str, Any]] = []  # scored by the task, not yet logged
        self._wake, self._enough = asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.scored_inline = 0  # requests that found the queue full and scored themselves

    @property
    def depth(self) -> int:
        """Games waiting for their challengers."""
        return self._games

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shadow-scoring")

    async def submit(self, item: Waiting) -> None:
        """Queue a request's games; if the queue is full, score them now (before answering)."""
        if self._task is None or self._games + len(item.served) > self.max_games:
            self.scored_inline += self._task is not None
            self.logger.log_many(await score([item]))
            return
        self._waiting.append(item)
        self._games += len(item.served)
        self._wake.set()
        if self._games >= self.flush_games:
            self._enough.set()

    async def _run(self) -> None:
        # Checks _closing as well as honouring cancellation: Python 3.11's wait_for can
        # swallow a cancel that lands as its wait completes.
        while not self._closing:
            await self._wake.wait()
            with contextlib.suppress(TimeoutError):  # the window: later requests join
                await asyncio.wait_for(self._enough.wait(), self.interval_s)
            self._wake.clear()
            self._enough.clear()
            self._scoring, self._waiting, self._games = self._waiting, [], 0
            try:
                self._unlogged = await score(self._scoring)
                self._scoring = []
                while self._unlogged:  # logged a slice at a time, between requests
                    self.logger.log_many(self._unlogged[:YIELD_EVERY])
                    del self._unlogged[:YIELD_EVERY]
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed call must not stop the task: these games are lost
                log.exception("scoring %d requests' challengers failed", len(self._scoring))
                self._scoring, self._unlogged = [], []

    async def close(self) -> None:
        """Stop the task, then score and log whatever waits (before the log closes)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait([self._task], timeout=5)
            for task in done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
            self._task = None
        rest, self._scoring, self._waiting, self._games = self._scoring + self._waiting, [], [], 0
        unlogged, self._unlogged = self._unlogged, []
        if unlogged:
            self.logger.log_many(unlogged)
        if rest:
            try:
                self.logger.log_many(await score(rest))
            except Exception:
                log.exception("scoring %d requests' challengers at shutdown failed", len(rest))
