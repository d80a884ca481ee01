"""Feature vectors for the serving path: the incremental state, kept current with the
database, whoever wrote to it.

Before each computation one small query asks PostgreSQL for results written since the
state's mark (any worker, any process: the feed writes there); they are folded in, or on a
correction the state is built afresh. Each worker holds one state; building it costs what one
full recomputation did (a few seconds), folding a result in tens of milliseconds. A miss
for up to ``FEW`` games is two round trips (the change check, and the games' own facts in
one statement: ``features/facts.py``) and as-of lookups on the state's numpy columns
(``features/lookup.py``, about 0.3 ms a game): p50 3.7 ms / p99 18.6 ms on a busy machine
(load 6-7 on 2 cores), against 79 / 190 ms for the same state through Polars and 8.7 s for
the full recomputation in the same run (``.venv/bin/python loadtests/bench_feature_miss.py
--misses 400 --peer-misses 20``). Larger batches go through the Polars ``features_at``, as
training does; both give the same bytes (``tests/features/test_lookup.py``). Folds, builds
and large batches run in a thread, never on the event loop; a lookup of up to ``INLINE``
games costs less than the hop. One refresh runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import datetime

import polars as pl

from features.facts import load_facts
from features.lines import CURRENT_PRICES, OPEN_PRICES, SEEN, lines_at
from features.online import UnknownGames, load_targets
from features.source import load_announced, load_changes, load_games, load_snapshots
from features.state import FeatureState
from features.vectors import FeatureVector, Lines
from storage.postgres import Conn

log = logging.getLogger(__name__)
FIRST_MARK = 0  # every result has change_xid >= 0: the changes since 0 are the history
FEW = 100  # up to this many games, a miss is looked up on numpy columns (features/lookup.py)
INLINE = 4  # up to this many, on the event loop (well under a millisecond each)


class LiveFeatures:
    def __init__(self, cutoff_minutes: int) -> None:
        self.cutoff_minutes = cutoff_minutes
        self._state: FeatureState | None = None
        self._lock = asyncio.Lock()
        self.rebuilds = 0
        # set once the worker's first build has ended (built, or failed: a miss builds it)
        self.warmed = False

    async def state(self, conn: Conn) -> FeatureState:
        """The state, with every result written until now folded in."""
        async with self._lock:
            state = self._state
            if state is None:
                return await self._build(conn)
            games, results, mark = await load_changes(conn, state.mark)
            if results.is_empty():
                self._state = replace(state, mark=mark)
                return self._state
            folded = await asyncio.to_thread(state.apply, games, results, mark)
            if folded is None:
                log.info("a result was corrected: rebuilding the feature state")
                return await self._build(conn)
            self._state = folded
            return folded

    async def _build(self, conn: Conn) -> FeatureState:
        started = time.perf_counter()
        games, results, mark = await load_changes(conn, FIRST_MARK)
        self._state = await asyncio.to_thread(FeatureState.build, games, results, mark)
        self.rebuilds += 1
        log.info("feature state built: %d results in %.2f s", results.height,
                 time.perf_counter() - started)  # fmt: skip
        return self._state

    async def vectors(
        self, conn: Conn, game_ids: list[str], *, now: datetime | None
    ) -> dict[str, FeatureVector]:
        """Vectors of ``game_ids`` as of min(cutoff, now): bit for bit what
        ``features.online.compute_vectors`` (and the training frame) computes. Unknown ids
        raise ``UnknownGames``."""
        if len(set(game_ids)) > FEW:
            return await self.frame_vectors(conn, game_ids, now=now)
        targets = await load_facts(conn, game_ids, cutoff_minutes=self.cutoff_minutes, now=now)
        missing = sorted(set(game_ids) - {t.game_id for t in targets})
        if missing:
            raise UnknownGames(missing)
        state = await self.state(conn)
        if len(targets) <= INLINE:
            return state.lookup(targets)
        return await asyncio.to_thread(state.lookup, targets)

    async def frame_vectors(
        self, conn: Conn, game_ids: list[str], *, now: datetime | None
    ) -> dict[str, FeatureVector]:
        """``vectors`` through the Polars ``features_at`` (the path of the training frame),
        on the held timelines; what a batch of more than ``FEW`` games takes."""
        targets = await load_targets(conn, game_ids, cutoff_minutes=self.cutoff_minutes, now=now)
        state = await self.state(conn)
        announced = await load_announced(conn, game_ids)
        snapshots = await load_snapshots(conn, game_ids)
        return await asyncio.to_thread(state.vectors, targets, announced, snapshots)


async def current_lines(conn: Conn, game_ids: list[str], now: datetime) -> dict[str, Lines]:
    """Each game's lines as a client can bet them at ``now``: the last snapshot of each market
    seen by now and before first pitch (a closing line is observed at first pitch), and the
    opening line. Games with no snapshot get empty Lines; unknown games are left out."""
    games = await load_games(conn, game_ids=game_ids)
    base = games.select(
        "game_id",
        pl.min_horizontal(
            pl.col("scheduled_start"), pl.lit(now, dtype=pl.Datetime("us", "UTC"))
        ).alias("horizon"),
    )
    frame = lines_at(base, await load_snapshots(conn, game_ids))
    out = {}
    for row in frame.iter_rows(named=True):
        out[row["game_id"]] = Lines(**{c: row[c] for c in (*OPEN_PRICES, *CURRENT_PRICES, *SEEN)})
    return out
