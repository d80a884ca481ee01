"""A worker's upkeep in the background: the outcome queue folded every few seconds, the
feature state built at start, and the prediction log's and model calls' gauges."""

from __future__ import annotations

import asyncio
import logging
import time

from features.live import LiveFeatures
from firstpitch.serving.log_relay import LogRelay, log_depth
from firstpitch.serving.metrics import metrics
from firstpitch.serving.models import ModelBackend
from firstpitch.serving.outages import OutageLog, unavailable_dependency
from firstpitch.serving.shadow_queue import ShadowQueue
from storage import outcomes, postgres
from storage.prediction_log import PredictionLogger

log = logging.getLogger(__name__)
# The background fold of newly logged predictions and results: every 2 s, or less often when
# a fold takes long, so that folding uses at most RESOLVE_SHARE of the time (each fold's cost
# grows with the games and versions logged since the last: under sustained batches over a
# season's games it is ~45 us of PostgreSQL's CPU a key), and at least every 30 s.
RESOLVE_EVERY_S = 2.0
RESOLVE_AT_MOST_S = 30.0
RESOLVE_SHARE = 0.02


def resolve_pause(took_s: float) -> float:
    """Seconds until the next fold, after one that took ``took_s``."""
    return min(RESOLVE_AT_MOST_S, max(RESOLVE_EVERY_S, took_s * (1 / RESOLVE_SHARE - 1)))


async def resolve_outcomes(db: postgres.Database) -> None:
    """Keep the outcome queue short, so a statistics request resolves little itself
    (each resolves whatever is still queued before it reads)."""
    outages = OutageLog(log)
    pause = RESOLVE_EVERY_S
    while True:
        await asyncio.sleep(pause)
        started = time.monotonic()
        try:
            async with db.connection() as conn:
                await outcomes.resolve(conn)
            pause = resolve_pause(time.monotonic() - started)
        except Exception as exc:
            pause = RESOLVE_EVERY_S
            dependency = unavailable_dependency(exc)
            if dependency is None:
                log.exception("resolving outcomes failed")
            else:
                outages.warn(dependency, f"outcomes resolved again in {pause} s", exc)


async def build_feature_state(db: postgres.Database, features: LiveFeatures) -> None:
    """Build the feature state at start, so the first miss does not pay for it. The worker is
    not ready until this has ended: building the timelines' arrays holds the interpreter for
    seconds, and requests served meanwhile would wait on it."""
    try:
        async with db.connection() as conn:
            await features.state(conn)
    except Exception:  # the first miss builds it then
        log.warning("feature state not built at start", exc_info=True)
    finally:
        features.warmed = True


async def gauges(
    logger: PredictionLogger,
    backend: ModelBackend,
    shadows: ShadowQueue | None = None,
    relay: LogRelay | None = None,
) -> None:
    while True:
        metrics().log_queue_depth.set(log_depth(logger, relay))
        if shadows is not None:
            metrics().shadow_queue_games.set(shadows.depth)
        held = relay.queued_bytes if relay is not None else 0
        metrics().log_queue_bytes.set(logger.queued_bytes + held)
        metrics().log_handover_records.set(relay.in_socket if relay is not None else 0)
        metrics().log_spill_bytes.set(logger.spill_bytes())
        retries = getattr(backend, "retries", 0)
        if retries:
            metrics().model_retries.inc(retries)
            backend.retries = 0  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)
