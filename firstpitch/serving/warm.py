"""Predicting today's games ahead, so that predictions/today and single predicts hit the cache.

Each game is predicted once as early as the service starts (as of now) and again at its
cutoff (the final pre-game answer). A Redis ``SET NX`` claim per game, phase and champion
set keeps several API workers from doing the same work.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from features.cutoff import cutoff_for
from firstpitch.serving import driven_clock
from firstpitch.serving.outages import OutageLog, unavailable_dependency
from firstpitch.serving.runtime import ApiRuntime
from runners import heap
from storage import prediction_queries as q

log = logging.getLogger(__name__)
IDLE = timedelta(seconds=60)
RETRY = timedelta(seconds=5)  # after a round that failed because a dependency was away


async def _claim(rt: ApiRuntime, versions: tuple[str, str], game_id: str, phase: str) -> bool:
    key = f"fp:warm:{versions[0]}:{versions[1]}:{game_id}:{phase}"
    return bool(await rt.redis.set(key, "1", nx=True, ex=2 * 86400))


async def warm_once(rt: ApiRuntime, done: dict[str, str]) -> datetime | None:
    """Warm what is due; return when the next game reaches its cutoff (None: none today)."""
    predictor = await rt.predictor(wait_s=600)
    if rt.clock.drivable:
        await driven_clock.follow(rt.redis, rt.clock)
    now = rt.clock.now()
    async with rt.db.connection() as conn:
        ids = await q.games_on(conn, rt.clock.today())
        meta = await q.game_meta(conn, ids) if ids else {}
    due, upcoming = [], []
    for stale in done.keys() - set(ids):  # only today's games are remembered: bounded
        del done[stale]
    for game_id in ids:
        cutoff = cutoff_for(meta[game_id]["scheduled_start"], rt.settings.cutoff_minutes)
        phase = "cutoff" if now >= cutoff else "early"
        if done.get(game_id) != phase and done.get(game_id) != "cutoff":
            if await _claim(rt, predictor.served.versions, game_id, phase):
                due.append(game_id)
            done[game_id] = phase
        if now < cutoff:
            upcoming.append(cutoff)
    for i in range(0, len(due), 50):
        chunk = due[i : i + 50]
        # Holding the games (as a feed batch does): a result committed meanwhile drops what
        # this writes, or is in it (firstpitch/serving/repricing.py).
        async with rt.repricer.in_order(chunk):
            await predictor.predict(
                chunk, None, endpoint="warm", request_id=f"warm-{now:%Y%m%dT%H%M%S}"
            )
    if due:
        log.info("warmed %d predictions for %s", len(due), rt.clock.today())
    return min(upcoming) if upcoming else None


async def warm_loop(rt: ApiRuntime) -> None:
    done: dict[str, str] = {}
    first = True
    outages = OutageLog(log)
    while True:
        failed = False
        try:
            next_cutoff = await warm_once(rt, done)
            if first:  # the whole path has run once: its lazy imports and caches are in
                heap.freeze()
                first = False
        except Exception as exc:  # keep warming later; a failed round is never fatal
            failed, next_cutoff = True, None
            dependency = unavailable_dependency(exc)
            if dependency is None:
                log.exception("warming failed")  # a defect: with its traceback
            else:
                outages.warn(dependency, f"warming retries in {RETRY.seconds} s", exc)
        if rt.clock.pinned and next_cutoff is None and not failed:
            return  # a pinned clock never reaches another cutoff
        wait = RETRY if failed else IDLE
        if next_cutoff is not None:
            wait = min(IDLE, max(timedelta(seconds=1), next_cutoff - rt.clock.now()))
        if rt.clock.drivable:  # a replay moves it faster than real time
            wait = min(wait, timedelta(seconds=1))
        await asyncio.sleep(wait.total_seconds())
