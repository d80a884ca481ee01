"""PostgreSQL: connections, pools and versioned SQL migrations (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg

log = logging.getLogger(__name__)
# A plain connection or one borrowed from a pool: every query helper accepts either.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        migrations.append(Migration(int(version), name, path.read_text()))
    return migrations


async def connect(dsn: str, *, attempts: int = 10, delay: float = 0.3) -> asyncpg.Connection:
    """Connect with bounded, logged retries (a server that just started may refuse briefly)."""
    for attempt in range(1, attempts + 1):
        try:
            return await asyncpg.connect(dsn, timeout=10)
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == attempts:
                raise
            log.warning("postgres not reachable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(delay * attempt)
    raise AssertionError("unreachable")


# What an unreachable, stopping or restarting server raises (TimeoutError is an OSError).
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


class _OutageWithoutTraceback(logging.Filter):
    """asyncpg's pool logs every failed attempt to restore its connection floor with a full
    traceback. An unreachable server is an expected condition: one line naming it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UNREACHABLE):
            record.msg = f"PostgreSQL unavailable ({type(exc).__name__}): {record.getMessage()}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OutageWithoutTraceback())


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached (or went away) within the timeout."""


class Database:
    """A pool whose connections come with a deadline (queueing plus connecting; connects
    themselves time out at the pool's connect timeout) and a single outage error."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self.pool, self.timeout_s = pool, timeout_s

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn:
                yield conn
        except UNREACHABLE as exc:
            raise DatabaseUnavailable(f"PostgreSQL unavailable ({type(exc).__name__})") from exc


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 10,
    init: Callable[[asyncpg.Connection[Any]], Coroutine[Any, Any, None]] | None = None,
    name: str | None = None,
) -> asyncpg.Pool:
    """A pool, retried while the server starts; ``init`` runs on each new connection;
    ``name`` is the connections' ``application_name`` (as ``pg_stat_activity`` shows them)."""
    settings = {"application_name": name} if name else None
    for attempt in range(1, 11):
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, timeout=connect_timeout, init=init,
                server_settings=settings,
            )  # fmt: skip
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == 10:
                raise
            log.warning("postgres pool not ready (attempt %d/10): %s", attempt, exc)
            await asyncio.sleep(0.3 * attempt)
    raise AssertionError("unreachable")


async def share_priority(conn: Conn) -> None:
    """Give the connection's server process this process's CPU priority (nice), where the
    server runs on this machine: a background writer's queries are then as background as
    the writer itself. A server elsewhere (its backend's pid names no ``postgres:`` process
    here), or a priority this process may not set, is left as it is."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    if own <= 0:
        return
    _lower_priority(int(await conn.fetchval("SELECT pg_backend_pid()")), own)


def lowered(nice: int) -> Callable[[Conn], Coroutine[Any, Any, None]]:
    """A pool ``init`` that puts each connection's server process at CPU priority ``nice``
    (where the server runs on this machine): for background work on connections of its own,
    such as the outcome fold, so that it yields the cores to requests."""

    async def init(conn: Conn) -> None:
        _lower_priority(int(await conn.fetchval("SELECT pg_backend_pid()")), nice)

    return init


def _lower_priority(pid: int, nice: int) -> None:
    try:
        if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres:"):
            return
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError:  # not here, gone, or not ours to lower
        return


async def migrate(conn: Conn, migrations: Sequence[Migration] | None = None) -> int:
    """Apply pending migrations, each in its own transaction; returns how many were applied.

    A lock serialises concurrent callers; a changed, already-applied file is an error.
    """
    migrations = list(migrations) if migrations is not None else load_migrations()
    applied = 0
    # A session lock (not a transaction's): it must outlive each migration's transaction.
    await conn.execute("SELECT pg_advisory_lock(7201911)")
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.version}_{migration.name} changed after it was "
                        "applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():  # a failing migration leaves the earlier ones
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied += 1
    finally:
        with contextlib.suppress(*UNREACHABLE):  # a dead session has released it already
            await conn.execute("SELECT pg_advisory_unlock(7201911)")
    return applied
