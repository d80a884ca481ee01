"""A real `bentoml serve` of service.py, against the session's real Postgres and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from firstpitch.settings import PROJECT_ROOT, Settings
from storage import api_keys
from storage.embedded import free_port
from storage.postgres import connect, migrate

PINNED_NOW = "2021-07-04T15:00:00Z"
_ADMIN_KEYS: dict[str, str] = {}


def create_key(
    dsn: str, name: str, scopes: tuple[str, ...] = ("predictions", "models", "feed"),
    rate_limit: int | None = 10**8,
) -> str:  # fmt: skip
    """A real key in the database (callable from sync code and from running event loops)."""

    async def make() -> str:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            _, token = await api_keys.create(conn, name, list(scopes), rate_limit)
            return token
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


def admin_key(dsn: str) -> str:
    """One key with every scope per database, for tests not about access control."""
    if dsn not in _ADMIN_KEYS:
        _ADMIN_KEYS[dsn] = create_key(dsn, "tests-admin")
    return _ADMIN_KEYS[dsn]


@dataclass
class RunningService:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    spill_dir: Path
    headers: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(settings: Settings, dsn: str, tmp: Path, **env: str) -> RunningService:
    port = free_port()
    spill = tmp / "spill"
    # A BentoML home of its own (sharing the model store): BentoML keeps per-home runtime
    # state, e.g. the Prometheus multiprocess directory it wipes when a server starts.
    home = tmp / "bentoml"
    home.mkdir(exist_ok=True)
    shared_models = Path(os.environ["BENTOML_HOME"]) / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(shared_models)
    environment = (
        os.environ
        | {
            "FIRSTPITCH_POSTGRES_DSN": dsn,
            "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
            "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
            "FIRSTPITCH_DATA_DIR": str(settings.data_dir),
            "FIRSTPITCH_SPILL_DIR": str(spill),
            "FIRSTPITCH_NOW": PINNED_NOW,
            "FIRSTPITCH_LOG_FLUSH_MS": "50",
            # Limits count games and a burst is what a key may take at once: the admin key
            # (10**8 a minute) must not be refused when many batches arrive together. Keys
            # with a limit of their own keep a burst of at most that limit.
            "FIRSTPITCH_RATE_LIMIT_BURST": "1000000",
            "BENTOML_HOME": str(home),
            "BENTOML_DO_NOT_TRACK": "true",
        }
        | env
    )
    log_path = tmp / "service.log"
    bentoml = Path(sys.executable).parent / "bentoml"
    proc = subprocess.Popen(
        [str(bentoml), "serve", "service:FirstPitch", "--host", "127.0.0.1", "--port", str(port),
         "--working-dir", str(PROJECT_ROOT)],
        env=environment, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {admin_key(dsn)}"}
    service = RunningService(f"http://127.0.0.1:{port}", proc, log_path, spill, auth)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the service exited ({proc.returncode}):\n{service.log()[-4000:]}")
        try:
            if httpx.get(f"{service.url}/health/ready", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    service.stop()
    pytest.fail(f"the service did not become ready:\n{service.log()[-4000:]}")


# For services whose tests are not about deadlines: they send up to 200 requests at once
# (beyond the production in-flight cap; shedding is tested on its own), and on a machine
# doing other work a 500 ms Redis, 2 s Postgres-connect or 2 s model deadline would turn
# that queueing into 503s.
# Deadlines are tested by the fault tests, each with a service of its own.
UNHURRIED = {
    "FIRSTPITCH_MAX_IN_FLIGHT": "512",
    "FIRSTPITCH_REDIS_TIMEOUT_MS": "10000",
    "FIRSTPITCH_MODEL_TIMEOUT_MS": "30000",
    "FIRSTPITCH_POSTGRES_TIMEOUT_MS": "30000",
    "FIRSTPITCH_POSTGRES_QUEUE_MS": "60000",
}


@pytest.fixture(scope="session")
def service(
    settings: Settings,
    ingested: str,
    champions: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    # The batching model service behind bentoml.depends (the other path, in-process
    # inference, is the default: test_serve.py and tests/ship run it).
    running = start_service(
        settings,
        ingested,
        tmp_path_factory.mktemp("service"),
        FIRSTPITCH_INFERENCE="service",
        FIRSTPITCH_AUTH_REFRESH_S="1",
        **UNHURRIED,
    )
    yield running
    running.stop()


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60, headers=service.headers) as c:
        yield c


@pytest.fixture
def bento_store_restored(champions: dict[str, object]) -> Iterator[None]:
    """For a test that imports model versions into the session's BentoML store (training,
    promoting): the versions it added are deleted afterwards, so the store holds only the
    session's champions again for the tests after it."""
    import bentoml

    before = {str(m.tag) for m in bentoml.models.list()}
    yield
    for model in bentoml.models.list():
        if str(model.tag) not in before:
            bentoml.models.delete(model.tag)
