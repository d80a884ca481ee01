"""The Bento, built once per session by plain `bentoml build` (for the Bento and image tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from firstpitch.settings import PROJECT_ROOT
from tests.conftest import SESSION_MARK

UV = PROJECT_ROOT / ".tools" / "bin" / "uv"
BENTOML = Path(sys.executable).parent / "bentoml"


def env_with_uv() -> dict[str, str]:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run ./run.sh setup first")
    return os.environ | {"PATH": f"{UV.parent}:{os.environ['PATH']}",
                         "BENTOML_DO_NOT_TRACK": "true"}  # fmt: skip


def _activated_env() -> dict[str, str]:
    """The environment of a shell with the virtualenv activated, and nothing from .tools/ on
    PATH: plain `bentoml build` must work there (uv comes from the virtualenv)."""
    tools = PROJECT_ROOT / ".tools"
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not Path(p).is_relative_to(tools)]
    return os.environ | {"PATH": os.pathsep.join([str(BENTOML.parent), *path]),
                         "VIRTUAL_ENV": str(BENTOML.parent.parent),
                         "BENTOML_DO_NOT_TRACK": "true"}  # fmt: skip


@pytest.fixture(scope="session")
def bento(champions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    built = subprocess.run([str(BENTOML), "build", "--output", "tag"], cwd=PROJECT_ROOT,
                           env=_activated_env(), capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    path = Path(os.environ["BENTOML_HOME"]) / "bentos" / name / version
    return {"tag": tag, "path": path, "info": yaml.safe_load((path / "bento.yaml").read_text())}


DOCKER_SH = PROJECT_ROOT / "deploy" / "container" / "docker.sh"
BUILD_SH = PROJECT_ROOT / "deploy" / "container" / "build.sh"
# Every container a session starts carries this label, so the end of the session removes
# them all, whatever failed.
LABEL = "org.firstpitch.test-session"


def _run(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def docker() -> Iterator[str]:
    """The Docker client (installed and dockerd started by deploy/container/docker.sh when
    missing: no skip, a machine without Docker fails here). At the end: the session's
    containers removed, and the daemon stopped if this session started it."""
    client = _run(str(DOCKER_SH), "client").stdout.strip()
    answered = bool(client) and _run(client, "info").returncode == 0
    ensured = _run(str(DOCKER_SH), "ensure", timeout=900)
    if ensured.returncode != 0:
        pytest.fail(f"Docker is not usable here: {ensured.stderr[-2000:]}")
    client = ensured.stdout.strip().splitlines()[-1]
    yield client
    ours = _run(client, "ps", "-aq", "--filter", f"label={LABEL}={SESSION_MARK}").stdout.split()
    if ours:
        _run(client, "rm", "-f", "-v", *ours)
    remove_compose_project(client, COMPOSE_PROJECT)
    if not answered:
        _run(str(DOCKER_SH), "stop")


@pytest.fixture(scope="session")
def image(docker: str, bento: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The image of the session's Bento, built by deploy/container/build.sh (what `make
    container` runs) with canary secrets in the build's environment."""
    canary = f"canary-{SESSION_MARK}"
    name = f"firstpitch-test:{SESSION_MARK[:12]}"
    env = os.environ | {
        "FIRSTPITCH_POSTGRES_DSN": f"postgresql://firstpitch:{canary}@db.invalid:5432/fp",
        "FIRSTPITCH_REDIS_URL": f"redis://:{canary}@redis.invalid:6379/0",
        "FIRSTPITCH_API_KEY": canary,
    }
    built = _run(str(BUILD_SH), bento["tag"], name, timeout=1800, env=env, cwd=PROJECT_ROOT)
    assert built.returncode == 0, built.stderr[-4000:]
    yield {"name": name, "canary": canary, "report": json.loads(built.stdout.splitlines()[-1])}
    _run(docker, "rmi", "-f", name)


# The compose project of the session's round trip (removed at the end, whatever failed).
COMPOSE_PROJECT = f"fptest{SESSION_MARK[:12]}"


def remove_compose_project(docker: str, project: str) -> None:
    label = f"label=com.docker.compose.project={project}"
    for kind in ("container", "volume", "network"):
        ids = _run(docker, kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                   "--filter", label).stdout.split()  # fmt: skip
        if ids:
            _run(docker, kind, "rm", *(["-f", "-v"] if kind == "container" else []), *ids)
