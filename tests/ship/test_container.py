"""The container image of the Bento (`make container`): built offline, non-root, with a
health check and the champions, no secret in any layer, and it serves a prediction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from firstpitch.settings import PROJECT_ROOT, Settings
from storage.embedded import free_port
from tests.conftest import SESSION_MARK
from tests.e2e.conftest import PINNED_NOW
from tests.ship.conftest import LABEL, _run

FIRSTPITCH = Path(sys.executable).parent / "firstpitch"
# The first test builds the image (cold: debootstrap, wheelhouse, install; minutes).
pytestmark = pytest.mark.timeout(1800)


def test_the_image_is_non_root_with_a_health_check_and_the_champions(
    docker: str, image: dict[str, Any], champions: dict[str, dict[str, Any]]
) -> None:
    config = json.loads(_run(docker, "image", "inspect", image["name"]).stdout)[0]["Config"]
    assert config["User"] == "bentoml"
    assert "/health/ready" in " ".join(config["Healthcheck"]["Test"])
    listed = _run(docker, "run", "--rm", "--network", "none", "--entrypoint", "sh", image["name"],
                  "-c", "id -u; cd /home/bentoml/bento/models && ls -d */*")  # fmt: skip
    uid, *models = listed.stdout.split()
    assert uid == "1034"
    expected = {c["bento_tag"].replace(":", "/") for c in champions.values()}
    assert expected <= set(models), listed.stdout + listed.stderr


def test_no_secret_in_any_layer(docker: str, image: dict[str, Any]) -> None:
    """The build ran with canary DSNs and a canary key in its environment: neither the
    history (build arguments, commands) nor any file of the image may hold them."""
    canary = image["canary"].encode()
    history = _run(docker, "history", "--no-trunc", image["name"]).stdout
    assert image["canary"] not in history and "postgresql://" not in history
    container = _run(docker, "create", "--label", f"{LABEL}={SESSION_MARK}", image["name"])
    cid = container.stdout.strip()
    files = 0
    try:
        export = subprocess.Popen([docker, "export", cid], stdout=subprocess.PIPE)
        assert export.stdout is not None
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                assert canary not in handle.read(), f"{member.name} holds a build secret"
                files += 1
        assert export.wait(timeout=300) == 0
    finally:
        _run(docker, "rm", "-f", cid)
    assert files > 10_000  # the whole file system was read


@pytest.fixture
def container(docker: str, image: dict[str, Any], settings: Settings, ingested: str,
              tmp_path: Path) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The image run as a deployment would, on the host's network (the session's servers
    listen on 127.0.0.1); removed at the end, and by the session whatever happens."""
    port = free_port()
    name = f"fp-test-{SESSION_MARK[:8]}-{port}"
    env = {
        "PORT": str(port),
        "FIRSTPITCH_POSTGRES_DSN": ingested,
        "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_NOW": PINNED_NOW,
    }
    flags = [f"--env={k}={v}" for k, v in env.items()]
    started = time.monotonic()
    run = _run(docker, "run", "-d", "--name", name, "--label", f"{LABEL}={SESSION_MARK}",
               "--network", "host", *flags, image["name"])  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        yield {"name": name, "url": f"http://127.0.0.1:{port}", "started": started}
    finally:
        (tmp_path / "container.log").write_text(_run(docker, "logs", name).stdout)
        _run(docker, "rm", "-f", name)


def _wait_ready(docker: str, box: dict[str, Any], timeout: float = 180) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{box['url']}/health/ready", timeout=2).status_code == 200:
                return time.monotonic() - box["started"]
        except httpx.HTTPError:
            pass
        state = _run(docker, "inspect", "-f", "{{.State.Status}}", box["name"]).stdout.strip()
        assert state == "running", _run(docker, "logs", box["name"]).stderr[-3000:]
        time.sleep(0.5)
    pytest.fail("not ready: " + _run(docker, "logs", box["name"]).stderr[-3000:])


def test_the_container_serves_an_authenticated_prediction(
    docker: str, container: dict[str, Any], ingested: str,
    champions: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    _wait_ready(docker, container)
    game = {"game_id": "CIN202107040"}
    url = f"{container['url']}/api/v1/predict"
    assert httpx.post(url, json=game, timeout=30).status_code == 401
    created = _run(str(FIRSTPITCH), "keys", "create", "--name", "container-smoke",
                   "--scope", "predictions", "--json", cwd=PROJECT_ROOT,
                   env={**os.environ, "FIRSTPITCH_POSTGRES_DSN": ingested})  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    resp = httpx.post(url, json=game, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    served = resp.json()["models"]
    assert served["home_win"]["model_version"] == champions["home_win"]["model_version"]
    assert served["total_over"]["model_version"] == champions["total_over"]["model_version"]
    # Docker's own health check agrees, and SIGTERM (docker stop) ends it cleanly.
    deadline = time.monotonic() + 60
    health = ""
    while time.monotonic() < deadline and health != "healthy":
        health = _run(docker, "inspect", "-f", "{{.State.Health.Status}}", container["name"])
        health = health.stdout.strip()
        time.sleep(1)
    assert health == "healthy"
    assert _run(docker, "stop", "-t", "45", container["name"], timeout=90).returncode == 0
    code = _run(docker, "inspect", "-f", "{{.State.ExitCode}}", container["name"]).stdout
    assert code.strip() == "0", _run(docker, "logs", container["name"]).stderr[-3000:]


def test_compose_and_kubernetes_run_the_image_make_container_builds() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    built = next(line.split("?=")[1].strip() for line in makefile.splitlines()
                 if line.startswith("IMAGE ?="))  # fmt: skip
    compose = (PROJECT_ROOT / "deploy" / "docker-compose.yml").read_text()
    assert f"${{FIRSTPITCH_IMAGE:-{built}}}" in compose
    kustomization = yaml.safe_load((PROJECT_ROOT / "deploy" / "k8s" / "kustomization.yaml")
                                   .read_text())  # fmt: skip
    (entry,) = kustomization["images"]
    assert f"{entry['newName']}:{entry['newTag']}" == built
    for manifest in ("api.yaml", "models.yaml"):
        docs = yaml.safe_load_all((PROJECT_ROOT / "deploy" / "k8s" / manifest).read_text())
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].split(":")[0] == entry["name"]
