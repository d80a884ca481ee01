"""Everything a worker of the API service holds open: clients, logger, predictor, warmer.

Opened in the service's startup hook, closed in its shutdown hook (per worker). The model
service may still be starting when the API starts, so the served models are fetched on
first use (and by the readiness probe), with bounded retries. The background upkeep it
starts (outcomes, feature state, gauges) is in ``upkeep.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from features.live import LiveFeatures
from features.store import FeatureStore
from firstpitch.clock import Clock
from firstpitch.runtime import resolve_endpoints
from firstpitch.serving import driven_clock, lifecycle, shadow, upkeep
from firstpitch.serving.access import KeyRing, RateLimiter
from firstpitch.serving.cache import PredictionCache
from firstpitch.serving.catalog import Catalog
from firstpitch.serving.errors import Unavailable
from firstpitch.serving.events import Hub
from firstpitch.serving.log_relay import LogRelay, logger_bounds, writer_config
from firstpitch.serving.models import LocalModels, ModelBackend
from firstpitch.serving.predictor import Predictor, ServedModels
from firstpitch.serving.relayed_log import RelayedLog
from firstpitch.serving.repricing import Repricer
from firstpitch.serving.reproduce import Replayer
from firstpitch.serving.shadow_queue import ShadowQueue
from firstpitch.settings import Settings
from runners import heap
from runners.versions import VersionedBoosters
from storage import postgres
from storage import redis as redis_store
from storage.event_stream import EventStream, StreamLeases
from storage.prediction_log import PredictionLogger

log = logging.getLogger(__name__)
# Model statistics read the resolved outcomes (one row per game and version, see
# storage/outcomes.py), no longer the log; still, at most this many such queries per worker
# at once, each waiting at most STATS_WAIT_S for a slot and
# running at most STATS_BUDGET_MS, so no client can tie up Postgres with them.
STATS_SLOTS = 2
STATS_WAIT_S = 5.0
CLOSE_TASKS_S = 5.0  # what shutdown gives background tasks to end once cancelled
CLOSE_POOL_S = 10.0  # and the connection pool to close gracefully
STATS_BUDGET_MS = 10_000
READ_BLOCK_MS = 1000  # the stream reader's XREAD BLOCK (its own connection)
BACKGROUND_NAME = "firstpitch-upkeep"  # the outcome fold's connection, in pg_stat_activity


@dataclass
class ApiRuntime:
    settings: Settings
    clock: Clock
    redis: aioredis.Redis
    pool: asyncpg.Pool
    db: postgres.Database
    background: postgres.Database  # the outcome fold's connection, at background priority
    logger: PredictionLogger
    relay: LogRelay | None  # the log's writer process, for the served batches
    catalog: Catalog
    backend: ModelBackend
    keyring: KeyRing
    limiter: RateLimiter
    events: EventStream
    leases: StreamLeases
    hub: Hub
    reader: aioredis.Redis  # the stream reader's own connection (it blocks)
    repricer: Repricer = field(init=False)
    shadows: ShadowQueue = field(init=False)  # challengers scored after the response
    features: LiveFeatures
    replays: Replayer
    _predictor: Predictor | None = None
    _variants: dict[tuple[str, str], Predictor] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stats: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(STATS_SLOTS))
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings, backend: ModelBackend) -> ApiRuntime:
        endpoints = resolve_endpoints(settings)
        client = await redis_store.connect(
            endpoints.redis_url, timeout_s=settings.redis_timeout_ms / 1000
        )
        pg_timeout = settings.postgres_timeout_ms / 1000
        pool = await postgres.create_pool(
            endpoints.postgres_dsn, min_size=1, max_size=8, connect_timeout=pg_timeout
        )
        async with pool.acquire() as conn:
            await postgres.migrate(conn)
        # the background outcome fold's own connection, at the log writer's priority: its
        # folds are bursts of PostgreSQL CPU that requests should not wait behind
        background = await postgres.create_pool(
            endpoints.postgres_dsn, min_size=1, max_size=1, connect_timeout=pg_timeout,
            init=postgres.lowered(settings.log_writer_nice), name=BACKGROUND_NAME,
        )  # fmt: skip
        logger = PredictionLogger(
            pool, settings.spill_path, enabled=settings.prediction_log, **logger_bounds(settings)
        )
        logger.start()
        relay = None
        if settings.prediction_log and settings.log_writer_process:
            # models in this process: the writer can load challengers and score them there
            local = isinstance(backend, LocalModels)
            relay = LogRelay(writer_config(settings, endpoints.postgres_dsn, challengers=local))
            relay.revive()  # a writer that cannot start leaves the worker logging itself
        reader = await redis_store.connect(
            endpoints.redis_url,
            max_connections=2,
            timeout_s=READ_BLOCK_MS / 1000 + max(1.0, settings.redis_timeout_ms / 1000),
        )
        events = EventStream(
            client, settings.stream_key, settings.stream_retention_events,
            settings.stream_retention_s,
        )  # fmt: skip
        runtime = cls(
            settings=settings,
            clock=Clock(settings.now, settings.tz, drivable=settings.clock_drivable),
            redis=client,
            pool=pool,
            db=postgres.Database(pool, settings.postgres_queue_ms / 1000),
            background=postgres.Database(background, settings.postgres_queue_ms / 1000),
            logger=logger,
            relay=relay,
            catalog=Catalog(settings.mlflow_uri, settings.mlflow_artifacts),
            backend=backend,
            keyring=KeyRing(
                pool,
                settings.auth_refresh_s,
                pg_timeout,
                listener=lambda: asyncpg.connect(endpoints.postgres_dsn, timeout=pg_timeout),
            ),
            limiter=RateLimiter(
                client,
                settings.rate_limit_per_minute,
                settings.rate_limit_burst,
                workers=settings.api_workers,
            ),
            events=events,
            leases=StreamLeases(
                client, f"{settings.stream_key}:leases", int(3 * settings.stream_heartbeat_s * 1000)
            ),
            hub=Hub(
                EventStream(reader, settings.stream_key, 0, 0),
                settings.stream_client_queue,
                READ_BLOCK_MS,
            ),
            reader=reader,
            features=LiveFeatures(settings.cutoff_minutes),
            replays=Replayer(VersionedBoosters(settings.mlflow_uri, settings.mlflow_artifacts)),
        )
        if settings.clock_drivable:
            await driven_clock.follow(client, runtime.clock)
        runtime.repricer = Repricer(
            runtime.clock, runtime.db, client, events, logger, runtime.predictor,
            cutoff_minutes=settings.cutoff_minutes, timeout_s=settings.reprice_timeout_s,
            default_model=settings.default_model,
        )  # fmt: skip
        runtime.shadows = ShadowQueue(RelayedLog(relay, logger))  # by the writer, where it can
        runtime.shadows.start()
        runtime.spawn(runtime.hub.run(), "stream-reader")
        runtime.spawn(upkeep.gauges(logger, backend, runtime.shadows, relay), "gauges")
        runtime.spawn(upkeep.resolve_outcomes(runtime.background), "outcomes")
        runtime.spawn(upkeep.build_feature_state(runtime.db, runtime.features), "feature-state")
        runtime.spawn(lifecycle.follow(runtime), "champions")
        if settings.auth_enabled:
            await runtime.keyring.refresh()
            runtime.spawn(runtime.keyring.run(), "api-keys")
            runtime.spawn(runtime.keyring.follow(), "api-key-changes")
        return runtime

    async def close(self) -> None:
        """Stop the background tasks, flush the prediction log, close the clients. Every
        step is bounded: a task that ignores its cancellation (Python 3.11's ``wait_for`` can
        swallow one) or a connection still held must not keep the worker from exiting."""
        self.hub.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_TASKS_S)
            for task in stuck:
                log.warning("background task %s did not stop; leaving it", task.get_name())
        await self.shadows.close()  # what waits for its challengers is logged first
        if self.relay is not None:
            await self.relay.close()  # the writer process drains, then exits
        await self.logger.close()  # flushes every queued record (or spills it)
        for pool in (self.background.pool, self.pool):
            try:
                await asyncio.wait_for(pool.close(), CLOSE_POOL_S)
            except TimeoutError:
                log.warning("PostgreSQL connections still busy at shutdown; terminating them")
                pool.terminate()
        await self.reader.aclose()
        await self.redis.aclose()

    @contextlib.asynccontextmanager
    async def stats(self) -> AsyncIterator[postgres.Conn]:
        """A connection for a model-statistics query, within the slots and the time budget."""
        try:
            await asyncio.wait_for(self._stats.acquire(), STATS_WAIT_S)
        except TimeoutError:
            raise Unavailable("model statistics are busy; retry shortly") from None
        try:
            async with self.db.connection() as conn:
                await conn.execute(f"SET statement_timeout = {STATS_BUDGET_MS}")
                try:
                    yield conn
                except asyncpg.QueryCanceledError:
                    raise Unavailable(
                        "model statistics took longer than their time budget; narrow `days`"
                    ) from None
        finally:
            self._stats.release()

    def spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def predictor(self, wait_s: float = 60.0) -> Predictor:
        """The predictor, once the model service has said which champions it holds."""
        if self._predictor is not None:
            return self._predictor
        async with self._lock:
            predictor = self._predictor
            if predictor is None:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        info = await self.backend.info()
                        break
                    except Exception as exc:
                        if time.monotonic() > deadline:
                            raise Unavailable("the model service is not ready yet") from exc
                        await asyncio.sleep(0.5)
                predictor = self.install(ServedModels(info))
                heap.freeze()  # what serving allocated on the way is long-lived too
        return predictor

    async def predictor_for(self, model_name: str | None, model_version: str | None) -> Predictor:
        """The predictor answering for ``model_version`` of the model asked for: the
        champions', or (a challenger's version) one with that challenger in its place."""
        predictor = await self.predictor()
        if model_version is None:
            return predictor
        target = predictor.served.target_of(model_name or self.settings.default_model)
        info = shadow.served_as(predictor.served.info, predictor.challengers, target, model_version)
        if info is None:
            return predictor
        served = ServedModels(info)
        variant = self._variants.get(served.versions)
        if variant is None or variant.served != served:
            variant = self._variants[served.versions] = self.build(served)
        return variant

    def install(
        self, served: ServedModels, challengers: tuple[shadow.Challenger, ...] = ()
    ) -> Predictor:
        """A predictor for the versions ``served`` names, with ``challengers`` in shadow,
        replacing the current one (requests holding the old one finish with it; see
        serving/lifecycle.py)."""
        self._variants = {}
        self._predictor = self.build(served, challengers)
        return self._predictor

    def build(
        self, served: ServedModels, challengers: tuple[shadow.Challenger, ...] = ()
    ) -> Predictor:
        return Predictor(
            self.settings,
            self.clock,
            FeatureStore(self.redis, self.settings.feature_ttl_s),
            PredictionCache(self.redis, served.versions, served.feature_version),
            self.db,
            lifecycle.BoundModels(self.backend, served.versions),
            served,
            self.logger,
            self.features,
            challengers,
            self.shadows,
            self.relay,
        )
