"""The project's own stack for a measurement: settings with a pinned clock, the servers
(configured or embedded; the embedded ones this run started are stopped by it), the data of
a season in the feature store, a load key, and ``bentoml serve`` of the service.

Project modules are imported inside the functions: ``configure_environment`` must run
before anything imports bentoml, and the locust side never imports this module.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.harness.processes import fds_to

Say = Callable[[str], None]


@dataclass
class Stack:
    """Settings and endpoints of a run, and the embedded servers it started itself."""

    settings: Any
    endpoints: Any
    started: list[Any] = field(default_factory=list)

    def stop_started(self, say: Say | None = None) -> None:
        for server in self.started:
            try:
                server.stop()
            except Exception as exc:  # clean-up goes on with the others
                if say is not None:
                    say(f"could not stop embedded {server.name}: {exc}")
                continue
            if say is not None:
                say(f"stopped embedded {server.name} (started by this run)")


def open_stack(now: str | None = None) -> Stack:
    """Settings (clock pinned to ``now`` when given), the environment BentoML and MLflow
    need, and the servers' endpoints (embedded ones started when not configured)."""
    from firstpitch.runtime import configure_environment, resolve_endpoints
    from firstpitch.settings import Settings
    from storage.embedded import embedded_servers

    settings = Settings(now=now) if now else Settings()  # type: ignore[arg-type]
    configure_environment(settings)
    before = {s.name: s.status().running for s in embedded_servers(settings.state_dir)}
    endpoints = resolve_endpoints(settings)
    started = [
        s for s in embedded_servers(settings.state_dir) if not before[s.name] and s.status().running
    ]
    return Stack(settings, endpoints, started)


async def season_ready(stack: Stack, season: int, say: Say) -> None:
    """Data, champions (trained if missing) and the season's vectors in the feature store."""
    from features.materialize import materialize
    from firstpitch.bootstrap import bring_up

    await bring_up(stack.settings, stack.endpoints, say)
    count, elapsed = await materialize(stack.settings, stack.endpoints, on_date=None,
                                       season=season)  # fmt: skip
    say(f"materialized {count} vectors of season {season} in {elapsed:.1f} s")


async def season_games(dsn: str, season: int, before: Any = None) -> list[str]:
    """Regular-season game ids of ``season`` (played before the date ``before``), sorted."""
    from storage import postgres

    conn = await postgres.connect(dsn)
    try:
        if before is None:
            rows = await conn.fetch(
                "SELECT game_id FROM games WHERE season = $1 AND game_type = 'regular' "
                "ORDER BY game_id",
                season,
            )
        else:
            rows = await conn.fetch(
                "SELECT game_id FROM games WHERE season = $1 AND game_type = 'regular' "
                "AND game_date < $2 ORDER BY game_id",
                season,
                before,
            )
    finally:
        await conn.close()
    return [r["game_id"] for r in rows]


async def load_key(dsn: str, name: str, scopes: list[str]) -> str:
    """A new API key whose rate limit is far above any load sent here: limits are not what
    a benchmark measures."""
    from storage import api_keys, postgres

    conn = await postgres.connect(dsn)
    try:
        _, token = await api_keys.create(conn, name, scopes, rate_limit_per_minute=10**8)
    finally:
        await conn.close()
    return token


def launch_service(
    stack: Stack, port: int, log: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """``bentoml serve`` of the service on 127.0.0.1:``port`` in its own session, its output
    appended to ``log`` (else this process's own); ``env``: settings of the service."""
    from firstpitch.serve import launch

    if log is None:
        return launch(stack.settings, stack.endpoints, "127.0.0.1", port, **env)
    with fds_to(log):  # launch() lets `bentoml serve` inherit our stdout/stderr
        return launch(stack.settings, stack.endpoints, "127.0.0.1", port, **env)


def service_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> bool:
    """Whether the service at ``url`` answers /health/ready before ``proc`` exits."""
    from firstpitch.serve import wait_ready

    return wait_ready(url, proc, timeout)


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    """A graceful stop (the prediction log flushed), then whatever is left is killed."""
    from firstpitch.serve import stop

    stop(proc)


def flush_predictions(redis_url: str) -> int:
    """Empty the prediction cache (``fp:pred:*``) so requested games really miss it; the
    number of keys deleted."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="fp:pred:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        client.close()


async def ensure_ingested(stack: Stack) -> None:
    """Every season of the raw data in the database when it is empty (nothing else: no
    training, no feature store)."""
    from firstpitch.bootstrap import database_is_empty
    from storage import postgres

    dsn = stack.endpoints.postgres_dsn
    if await database_is_empty(dsn):
        from ingest.loader import ingest

        conn = await postgres.connect(dsn)
        try:
            await ingest(conn, stack.settings.data_dir, set(range(2005, 2025)))
        finally:
            await conn.close()


@contextlib.contextmanager
def scratch_postgres(
    prefix: str, durable: bool, dsn: str | None = None
) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of its own in a temporary folder (``durable``: fsync on, as the embedded
    default runs), or ``dsn`` when given; its DSN and the folder, both gone after."""
    from storage.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        server = None if dsn else EmbeddedPostgres(work / "pg", durable=durable)
        url = dsn or server.start()  # type: ignore[union-attr]
        try:
            yield url, work
        finally:
            if server is not None:
                server.stop()
