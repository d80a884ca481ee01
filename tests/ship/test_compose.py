"""deploy/docker-compose.yml for real (deploy/compose.sh): Postgres, Redis, MLflow, the Bento
image and Prometheus come up; data loaded with the image's bootstrap profile, a key made with
`firstpitch keys create` against the stack, a prediction through the container and logged,
Prometheus scraping the Bento's /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from firstpitch.settings import PROJECT_ROOT
from storage.embedded import free_port
from tests.conftest import DATA_DIR
from tests.e2e.conftest import PINNED_NOW
from tests.ship.conftest import COMPOSE_PROJECT, _run, remove_compose_project

COMPOSE_SH = PROJECT_ROOT / "deploy" / "compose.sh"
FIRSTPITCH = Path(sys.executable).parent / "firstpitch"
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def stack(docker: str, image: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:  # fmt: skip
    ports = {name: free_port() for name in ("FIRSTPITCH", "POSTGRES", "REDIS", "MLFLOW",
                                             "PROMETHEUS")}  # fmt: skip
    env = (
        os.environ
        | {f"{name}_PORT": str(port) for name, port in ports.items()}
        | {
            "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT,
            "FIRSTPITCH_IMAGE": image["name"],
            "FIRSTPITCH_NOW": PINNED_NOW,
            "FIRSTPITCH_DATA_DIR": str(DATA_DIR),
            "POSTGRES_PASSWORD": f"pw-{COMPOSE_PROJECT}",
        }
    )
    log = tmp_path_factory.mktemp("compose") / "compose.log"

    def compose(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        done = _run(str(COMPOSE_SH), *args, env=env, timeout=timeout)
        with log.open("a") as out:
            out.write(f"$ compose {' '.join(args)}\n{done.stdout}\n{done.stderr}\n")
        return done

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr[-4000:]
        dsn = (f"postgresql://firstpitch:{env['POSTGRES_PASSWORD']}"
               f"@127.0.0.1:{ports['POSTGRES']}/firstpitch")  # fmt: skip
        yield {"ports": ports, "dsn": dsn, "compose": compose, "env": env}
    finally:
        compose("logs", "--no-color", "--tail", "200", timeout=120)
        compose("--profile", "bootstrap", "down", "-v", "--remove-orphans", timeout=300)
        remove_compose_project(docker, COMPOSE_PROJECT)


def _wait(check: Any, what: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(1)
    pytest.fail(f"{what}: {last!r}")


def _logged(dsn: str, game_id: str) -> int:
    """Rows of ``game_id`` in the stack's prediction log (on a loop of its own: the tests'
    event loop belongs to pytest-asyncio)."""

    async def count() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM prediction_log WHERE game_id = $1", game_id)  # fmt: skip
            return int(found)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, count()).result()


def test_the_stack_serves_a_logged_prediction_and_prometheus_scrapes_it(
    stack: dict[str, Any],
) -> None:
    ports = stack["ports"]
    url = f"http://127.0.0.1:{ports['FIRSTPITCH']}"
    loaded = stack["compose"]("--profile", "bootstrap", "run", "--rm", "ingest", "python", "-m",
                              "firstpitch", "ingest", "--data-dir", "/data",
                              "--seasons", "2020-2021")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    _wait(lambda: httpx.get(f"{url}/health/ready", timeout=3).status_code == 200, "ready")
    created = _run(str(FIRSTPITCH), "keys", "create", "--name", "compose", "--scope",
                   "predictions", "--json", cwd=PROJECT_ROOT,
                   env=os.environ | {"FIRSTPITCH_POSTGRES_DSN": stack["dsn"]})  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    game = {"game_id": "CIN202107040"}
    assert httpx.post(f"{url}/api/v1/predict", json=game, timeout=30).status_code == 401
    resp = httpx.post(f"{url}/api/v1/predict", json=game, timeout=60,
                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert 0 < resp.json()["home_ml_probability"] < 1

    # The log is written in batches, shortly after the answer.
    _wait(lambda: _logged(stack["dsn"], "CIN202107040") >= 1, "the prediction in the log", 60)

    prom = f"http://127.0.0.1:{ports['PROMETHEUS']}/api/v1"

    def scraped() -> bool:
        query = {"query": 'up{job="firstpitch"} == 1'}
        up = httpx.get(f"{prom}/query", params=query, timeout=5).json()["data"]["result"]
        names = httpx.get(f"{prom}/label/__name__/values", timeout=5).json()["data"]
        return bool(up) and any(n.startswith("firstpitch_") for n in names)

    _wait(scraped, "Prometheus scraping firstpitch:3000/metrics", 120)
