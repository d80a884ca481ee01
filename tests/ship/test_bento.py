"""The Bento: built offline from bentofile.yaml, holding the champions, and it serves."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from firstpitch.settings import PROJECT_ROOT, Settings
from storage.embedded import free_port
from tests.e2e.conftest import PINNED_NOW, admin_key
from tests.ship.conftest import BENTOML, UV, env_with_uv


def test_bento_requirements_match_the_lock_file() -> None:
    exported = subprocess.run(
        [str(UV), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project",
         "--no-header", "-q"], cwd=PROJECT_ROOT, env=env_with_uv(), capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    committed = (PROJECT_ROOT / "requirements" / "bento.txt").read_text()
    assert committed == exported, "requirements/bento.txt is stale: run `make requirements`"


def test_the_bento_has_its_dockerfile_models_and_settings(
    bento: dict[str, Any], champions: dict[str, dict[str, Any]]
) -> None:
    info, path = bento["info"], bento["path"]
    assert (path / "env" / "docker" / "Dockerfile").exists()
    assert {m["tag"] for m in info["models"]} == {c["bento_tag"] for c in champions.values()}
    assert {s["name"] for s in info["services"]} == {"firstpitch", "firstpitch-models"}
    assert {e["name"] for e in info["envs"]} >= {"FIRSTPITCH_POSTGRES_DSN",
                                                 "FIRSTPITCH_REDIS_URL"}  # fmt: skip
    requirements = (path / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "bentoml==1.4.40" in requirements
    assert not (path / "src" / "tests").exists() and (path / "src" / "service.py").exists()
    assert (path / "src" / "storage" / "migrations" / "0001_games_and_odds.sql").exists()


def test_the_built_bento_serves_a_prediction(
    bento: dict[str, Any],
    settings: Settings,
    ingested: str,
    tmp_path: Path,
    champions: dict[str, dict[str, Any]],
) -> None:
    port = free_port()
    env = env_with_uv() | {
        "FIRSTPITCH_POSTGRES_DSN": ingested,
        "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
        "FIRSTPITCH_SPILL_DIR": str(tmp_path / "spill"),
        "FIRSTPITCH_NOW": PINNED_NOW,
    }
    proc = subprocess.Popen([str(BENTOML), "serve", bento["tag"], "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=(tmp_path / "log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        game = {"game_id": "CIN202107040"}
        anonymous = httpx.post(f"{url}/api/v1/predict", json=game, timeout=30)
        assert anonymous.status_code == 401  # the shipped configuration requires keys
        key = {"Authorization": f"Bearer {admin_key(ingested)}"}
        resp = httpx.post(f"{url}/api/v1/predict", json=game, headers=key, timeout=30)
        assert resp.status_code == 200, (tmp_path / "log").read_text()[-3000:]
        served = resp.json()["models"]
        assert served["home_win"]["model_version"] == champions["home_win"]["model_version"]
        assert served["total_over"]["model_version"] == champions["total_over"]["model_version"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
