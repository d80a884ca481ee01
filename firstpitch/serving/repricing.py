"""What a committed feed batch sets off: re-predicted games, re-priced recommendations,
status and result events.

Only records that inserted or updated something count (a resend changes nothing and sets off
nothing). By kind, for each game touched, at the service's clock:

- odds, starters, lineups before the cutoff (and within 36 h of first pitch): the game's
  vector is recomputed and predicted; the vector, the cached prediction and the ``prediction``
  event are written to Redis in one MULTI/EXEC, then the record is logged (endpoint
  ``feed``, the feed request's id). The event carries the prediction as served and its
  recommendations at the current price too (the vector's line is the one known at its
  as-of; the filter's edge is the current price's);
- odds between the cutoff and first pitch: the prediction is frozen, its recommendations are
  re-priced at the current price (``pricing.reprice``) -> ``odds``;
- status and schedule records may move or call off a game, so what is held for it (the
  vector and the cached prediction, both computed for the old first pitch) is dropped: the
  next request computes them for the game as it now stands. A status change also publishes
  ``status`` with the record and the game's status now, and a game it leaves ahead of its
  (new) cutoff is re-predicted as above (in the same transaction as the drop);
- results: ``result`` with the score and the settlement of the prediction standing at the
  cutoff (``pricing.settle``). A result known by the cutoff of a game that is frozen now
  (past its cutoff, not started) but arriving after its frozen vector was computed (the
  cutoff's own warm-up can run the instant the clock reaches it) drops that game's vector and
  cached prediction, so the next request computes them as of the cutoff with it;
- anything after first pitch: nothing.

Ordering: a batch holds its games' locks from before its write until its events are
published, so batches about one game (from any feeder, through any worker) are written,
re-priced and published one after another: the last event of a game is computed from all of
its facts.

Failure after the commit: the feed write stands (it is the source of truth). Everything is
computed before anything is written, and the Redis writes of a batch (vectors, cache
entries, events) go in one transaction, so a failure leaves either all of them or none; it
is logged, counted (``firstpitch_repricing_failures_total{kind}``) and reported in the feed
answer (``repricing: "failed"``). The games are re-priced on their next change, and a
request for them computes as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgpack
import redis.asyncio as aioredis

from features import store as feature_store
from firstpitch.clock import Clock
from firstpitch.serving import events, pricing, shadow, shaping
from firstpitch.serving.freshness import PREDICTABLE_AHEAD
from firstpitch.serving.metrics import metrics
from firstpitch.serving.predictor import Predictor
from ingest.feed_records import FeedRecord, Result, StatusChange
from storage import live_queries as q
from storage.event_stream import EventStream
from storage.game_locks import GameLocks
from storage.postgres import Database
from storage.prediction_log import PredictionLogger

log = logging.getLogger(__name__)
REPREDICT = ("odds", "starters", "lineups")
GONE = q.CALLED_OFF_STATUSES
LOCK_MARGIN_S = 5.0  # a batch's game locks outlive its re-pricing deadline by this


@dataclass
class Repriced:
    status: str = "done"  # done, nothing (no change), failed
    events: list[dict[str, str]] = field(default_factory=list)  # {id, type, game_id}


@dataclass
class _Pending:
    """An event (and what goes with it) computed, not yet written."""

    type: str
    game_id: str
    game_date: str
    edge: float | None
    payload: dict[str, Any]
    writes: list[tuple[str, bytes, int]] = field(default_factory=list)  # key, value, ttl
    record: dict[str, Any] | None = None
    shadow: list[dict[str, Any]] = field(default_factory=list)  # the challengers' records


class Repricer:
    def __init__(self, clock: Clock, db: Database, redis: aioredis.Redis, stream: EventStream,
                 logger: PredictionLogger, predictor: Callable[[], Awaitable[Predictor]],
                 *, cutoff_minutes: int, timeout_s: float, default_model: str) -> None:  # fmt: skip
        self.clock, self.db, self.redis, self.stream = clock, db, redis, stream
        self.logger, self.predictor = logger, predictor
        self.cutoff = timedelta(minutes=cutoff_minutes)
        self.timeout_s, self.default_model = timeout_s, default_model
        self.locks = GameLocks(redis, timeout_s + LOCK_MARGIN_S)

    def in_order(self, game_ids: Iterable[str]) -> AbstractAsyncContextManager[bool]:
        """Around a batch's write and ``after_feed`` (and a warm-up's predictions): work on
        one game is written, re-priced and published one after another
        (``storage/game_locks.py``)."""
        return self.locks.held(game_ids, self.timeout_s + LOCK_MARGIN_S)

    async def ordered_with(self, kind: str, records: list[FeedRecord]) -> list[str]:
        """The games a batch must be ordered with: its own, and for results every game
        frozen now whose features a result can change (known by its cutoff: its held
        vector is dropped), so that a vector computed without the result, by a warm-up or
        a re-pricing holding that game, cannot be written after the drop."""
        ids = {r.game_id for r in records}
        known = [r.known_at for r in records if isinstance(r, Result)]
        if kind == "results" and known:
            minutes = int(self.cutoff.total_seconds() // 60)
            async with self.db.connection() as conn:
                ids.update(await q.frozen_since(conn, min(known), self.clock.now(), minutes))
        return sorted(ids)

    async def after_feed(self, kind: str, changed: list[FeedRecord], request_id: str) -> Repriced:
        if not changed:
            return Repriced("nothing")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                pending, dropped = await self._compute(kind, changed, request_id)
                done = await self._publish(pending, dropped)
        except Exception as exc:
            metrics().repricing_failures.labels(kind).inc()
            log.warning("re-pricing after a feed batch (%s) failed (the write stands): %s: %s",
                        kind, type(exc).__name__, exc, exc_info=not _expected(exc))  # fmt: skip
            return Repriced("failed")
        metrics().repricing_latency.labels(kind).observe(time.perf_counter() - started)
        return done

    async def _compute(
        self, kind: str, changed: list[FeedRecord], rid: str
    ) -> tuple[list[_Pending], list[str]]:
        """The events to publish and the Redis keys to drop, all computed before any write."""
        now = self.clock.now()
        ids = sorted({r.game_id for r in changed})
        moved = kind in ("status", "schedule")
        async with self.db.connection() as conn:
            games = await q.games(conn, ids)
            if kind == "results":
                standing = await q.standing(conn, ids)
                known = min(r.known_at for r in changed if isinstance(r, Result))
                minutes = int(self.cutoff.total_seconds() // 60)
                frozen = await q.frozen_since(conn, known, now, minutes)
                return [self._result(r, games[r.game_id], standing.get(r.game_id))
                        for r in changed if isinstance(r, Result)], await self._held_keys(frozen)  # fmt: skip
            out = [self._status(r, games[r.game_id])
                   for r in changed if isinstance(r, StatusChange)]  # fmt: skip
            before, frozen = [], []
            for g in ids if kind != "schedule" else ():
                start, status = games[g]["scheduled_start"], games[g]["status"]
                if status in GONE or now >= start:
                    continue
                if now < start - self.cutoff:
                    if start - now <= PREDICTABLE_AHEAD:
                        before.append(g)
                elif kind == "odds":
                    frozen.append(g)
            prices = await q.current_prices(conn, before + frozen, now) if before or frozen else {}
        dropped = await self._held_keys(ids) if moved else []
        if before:
            out += await self._predictions(before, games, prices, now, kind, rid)
        if frozen:
            out += await self._odds(frozen, games, prices, now)
        return out, dropped

    async def _held_keys(self, ids: list[str]) -> list[str]:
        """The feature-store and prediction-cache keys of ``ids``."""
        predictor = await self.predictor()
        version = predictor.served.feature_version
        return [k for g in ids for k in (feature_store.key(version, g), predictor.cache.key(g))]

    async def _predictions(self, ids: list[str], games: dict[str, dict[str, Any]],
                           prices: dict[str, dict[str, dict[str, Any]]], now: datetime,
                           kind: str, rid: str) -> list[_Pending]:  # fmt: skip
        predictor = await self.predictor()
        scored: dict[str, list[tuple[shadow.Challenger, Any]]] = {}
        vectors, entries = await predictor.refresh(ids, now, scored)
        name = self.default_model
        target = predictor.served.target_of(name)
        base = predictor.record_base(name, "feed", rid, now)
        out = []
        for g in ids:
            vector, entry = vectors[g], entries[g]
            answer = predictor.respond(entry, name, target, cache_hit=False)
            record = shaping.record(base, entry, False, 0.0)
            current = pricing.reprice(entry["home_ml_probability"],
                                      entry["total_over_probability"],
                                      entry["odds_used"].get("open_total"), prices.get(g, {}),
                                      predictor.policy)  # fmt: skip
            out.append(_Pending(
                "prediction", g, str(games[g]["game_date"]), pricing.best_edge(current),
                {"trigger": kind, "request_id": rid, "prediction": answer,
                 "current_price_recommendations": current},
                writes=[
                    (feature_store.key(vector.feature_version, g), feature_store.encode(vector),
                     predictor.store.ttl_s),
                    (predictor.cache.key(g), msgpack.packb(entry, use_bin_type=True),
                     predictor.cache_ttl(vector, now)),
                ],
                record=record,
                shadow=shadow.records(record, entry, scored.get(g, []), predictor.policy),
            ))  # fmt: skip
        return out

    async def _odds(self, ids: list[str], games: dict[str, dict[str, Any]],
                    prices: dict[str, dict[str, dict[str, Any]]], now: datetime) -> list[_Pending]:  # fmt: skip
        predictor = await self.predictor()
        entries = await predictor.standing(ids, now)
        out = []
        for g in ids:
            e = entries[g]
            recs = pricing.reprice(e["home_ml_probability"], e["total_over_probability"],
                                   e["odds_used"].get("open_total"), prices.get(g, {}),
                                   predictor.policy)  # fmt: skip
            out.append(_Pending("odds", g, str(games[g]["game_date"]), pricing.best_edge(recs), {
                "prediction_timestamp": e["prediction_timestamp"],
                "feature_cutoff_time": e["feature_cutoff_time"],
                "home_ml_probability": e["home_ml_probability"],
                "total_over_probability": e["total_over_probability"],
                "betting_recommendations": recs,
            }))  # fmt: skip
        return out

    def _status(self, r: StatusChange, game: dict[str, Any]) -> _Pending:
        return _Pending("status", r.game_id, str(game["game_date"]), None, {
            "status": r.status, "reason": r.reason, "known_at": r.known_at.isoformat(),
            "record_scheduled_start": _iso(r.scheduled_start),
            "current_status": game["status"],
            "scheduled_start": game["scheduled_start"].isoformat(),
        })  # fmt: skip

    def _result(self, r: Result, game: dict[str, Any], held: dict[str, Any] | None) -> _Pending:
        line = held["odds_used"].get("open_total") if held else None
        payload: dict[str, Any] = {
            "home_score": r.home_score, "away_score": r.away_score,
            "known_at": r.known_at.isoformat(),
            "outcome": pricing.outcome(r.home_score, r.away_score, line),
            "recommendation": None, "profit": None,
        }  # fmt: skip
        if held is not None:
            settled = {m: bet | pricing.settle(bet, r.home_score, r.away_score)
                       for m, bet in held["recommendations"].items()}  # fmt: skip
            payload["recommendation"] = {
                "prediction_timestamp": held["predicted_at"].isoformat(),
                "before_cutoff": held["predicted_at"] <= held["feature_cutoff"],
                "home_ml_probability": held["home_ml_probability"],
                "total_over_probability": held["total_over_probability"],
                "betting_recommendations": settled,
            }
            payload["profit"] = sum(s["profit"] for s in settled.values())
        return _Pending("result", r.game_id, str(game["game_date"]), None, payload)

    async def _publish(self, pending: list[_Pending], dropped: list[str]) -> Repriced:
        if not pending and not dropped:
            return Repriced("done")
        pipe = self.redis.pipeline(transaction=True)
        if dropped:  # first: a re-prediction in the same transaction writes its keys afresh
            pipe.delete(*dropped)
        at: list[int] = []
        for p in pending:
            for key, value, ttl in p.writes:
                pipe.set(key, value, ex=max(1, ttl))
            at.append(len(pipe.command_stack))
            self.stream.stage(pipe, events.fields(p.type, p.game_id, p.game_date, p.edge,
                                                  p.payload))  # fmt: skip
        replies = await pipe.execute()
        self.logger.log_many(
            [r for p in pending for r in ([p.record] if p.record is not None else []) + p.shadow]
        )
        done = Repriced("done")
        for p, i in zip(pending, at, strict=True):
            sid = replies[i]
            done.events.append({"id": sid.decode() if isinstance(sid, bytes) else str(sid),
                                "type": p.type, "game_id": p.game_id})  # fmt: skip
            metrics().stream_events.labels(p.type).inc()
        return done


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _expected(exc: BaseException) -> bool:
    """An outage or a deadline (no traceback needed), not a defect."""
    from firstpitch.serving.outages import unavailable_dependency

    return isinstance(exc, TimeoutError) or unavailable_dependency(exc) is not None
