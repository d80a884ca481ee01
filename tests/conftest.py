"""Shared fixtures: isolated real PostgreSQL and Redis servers, settings, the real data."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis.asyncio as aioredis

from firstpitch.settings import PROJECT_ROOT, Settings
from storage.embedded import EmbeddedPostgres, embedded_servers
from storage.postgres import connect, migrate

DATA_DIR = Path(os.environ.get("FIRSTPITCH_TEST_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
# One throwaway root per test session: servers, MLflow store and BentoML home live here, so
# nothing a developer keeps in .state/ is touched. BentoML reads its home at import time.
TEST_ROOT = Path(tempfile.mkdtemp(prefix="firstpitch-test-"))
TEST_ROOT.chmod(0o755)
os.environ["BENTOML_HOME"] = str(TEST_ROOT / "state" / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
# Every process the tests start inherits this mark (servers, services, load generators), so
# the end of the session can find any that outlived it, whatever started it.
SESSION_MARK = uuid.uuid4().hex
os.environ["FIRSTPITCH_TEST_SESSION"] = SESSION_MARK


SESSION_STARTED = time.time()


def _ours(proc: psutil.Process, roots: list[Path]) -> bool:
    """Started by this session: it carries the mark, or (Valkey rewrites its environment
    with its process title) it works in the session's directories, or it started during the
    session in the project's own state directory (a command a test ran without its own)."""
    if proc.environ().get("FIRSTPITCH_TEST_SESSION") == SESSION_MARK:
        return True
    cwd = Path(proc.cwd())
    if any(cwd.is_relative_to(root) for root in roots):
        return True
    return proc.create_time() >= SESSION_STARTED and cwd.is_relative_to(PROJECT_ROOT / ".state")


def _left_running(roots: list[Path]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            if _ours(proc, roots):
                found.append(proc)
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No process a test started may outlive the session: any left is named, stopped, and
    fails the run (a leak is a defect of the test that made it, even when it passed)."""
    roots = [TEST_ROOT]
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None and factory._basetemp is not None:
        roots.append(factory._basetemp)
    left = _left_running(roots)
    if not left:
        return
    names = []
    for proc in left:
        try:
            names.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(left, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "processes started by the tests were still running:\n  " + "\n  ".join(names)
    if reporter is not None:
        reporter.write_line(f"ERROR: {message}", red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def live_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, with every logger live: an in-process BentoML call (the Bento build tests)
    configures logging with ``disable_existing_loggers``, which silences ours."""
    loggers = [lg for lg in logging.root.manager.loggerDict.values()
               if isinstance(lg, logging.Logger) and lg.disabled]  # fmt: skip
    for lg in loggers:
        lg.disabled = False
    try:
        yield caplog
    finally:
        for lg in loggers:
            lg.disabled = True


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "retrosheet").is_dir():
        pytest.fail(f"the real data is missing at {DATA_DIR} (set FIRSTPITCH_TEST_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    yield TEST_ROOT
    shutil.rmtree(TEST_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def servers(state_dir: Path) -> Iterator[tuple[str, str]]:
    """A PostgreSQL and a Redis of the session's own, unless addresses are configured.

    ``FIRSTPITCH_TEST_POSTGRES_DSN`` / ``FIRSTPITCH_TEST_REDIS_URL`` point the tests at
    external servers instead (e.g. CI service containers); the database is wiped first.
    """
    pg, rd = embedded_servers(state_dir / "servers", durable=False)
    try:
        dsn = os.environ.get("FIRSTPITCH_TEST_POSTGRES_DSN") or pg.start()
        url = os.environ.get("FIRSTPITCH_TEST_REDIS_URL") or rd.start()
        yield dsn, url
    finally:
        try:
            pg.stop()
        finally:
            rd.stop()


@pytest.fixture(scope="session")
def settings(servers: tuple[str, str], state_dir: Path, data_dir: Path) -> Settings:
    dsn, url = servers
    return Settings(
        postgres_dsn=dsn, redis_url=url, data_dir=data_dir, state_dir=state_dir / "state"
    )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def ingested(servers: tuple[str, str], data_dir: Path) -> str:
    """The real data of every season, loaded once for the session; returns the DSN."""
    dsn = servers[0]
    conn = await connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    await ingest_all(dsn, data_dir)
    return dsn


async def ingest_all(dsn: str, data_dir: Path) -> None:
    from ingest.loader import ingest

    conn = await connect(dsn)
    try:
        await ingest(conn, data_dir, set(range(2005, 2025)))
    finally:
        await conn.close()


@dataclass(frozen=True)
class OwnPostgres:
    server: EmbeddedPostgres
    dsn: str


@pytest.fixture
async def own_postgres(data_dir: Path) -> AsyncIterator[OwnPostgres]:
    """A PostgreSQL server of the test's own, holding the real data: for tests that stop,
    stall or kill it, so no other test ever sees that outage. (Under the session's root, which
    the server's system user can reach, not pytest's private tmp_path.)"""
    server = EmbeddedPostgres(TEST_ROOT / "own" / uuid.uuid4().hex[:8], durable=False)
    try:
        dsn = server.start()
        await ingest_all(dsn, data_dir)
        yield OwnPostgres(server, dsn)
    finally:
        server.stop()


@pytest.fixture
async def scratch_db(servers: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A fresh, migrated database of its own for tests that write."""
    import uuid

    admin = await connect(servers[0])
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = servers[0].rsplit("/", 1)[0] + f"/{name}"
    conn = await connect(dsn)
    await migrate(conn)
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def redis_client(servers: tuple[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(servers[1])
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


SMALL_GRID = {"num_leaves": [7], "min_data_in_leaf": [200]}


@pytest.fixture(scope="session")
async def champions(settings: Settings, ingested: str) -> dict[str, dict[str, object]]:
    """Small real models for both targets: trained, logged, registered, promoted, imported."""
    from firstpitch.runtime import Endpoints
    from training.run import run_training

    endpoints = Endpoints(ingested, settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    return {
        target: await run_training(
            settings, endpoints, target, promote=True, grid=SMALL_GRID, max_rounds=150
        )
        for target in ("home_win", "total_over")
    }
