"""The peers compared with firstpitch, each serving the same home-win champion (raw
inference only): Seldon MLServer (from a virtualenv of its own) and ``mlflow models serve``,
each in its default and its tuned configuration; and BentoML's floor, an empty route on the
same server firstpitch runs on (``floor_service.py``), and that floor with both champions'
model call and a response of firstpitch's size (``ceiling_service.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtests.compare.prepare import MLSERVER_MODEL, Prepared, say
from loadtests.compare.targets import Target
from loadtests.compare.workload import (
    firstpitch_batch_body,
    firstpitch_single_body,
    home_probabilities,
    mlflow_body,
    mlserver_body,
)
from loadtests.harness.processes import Processes, base_env
from loadtests.harness.reports import PROJECT_ROOT

MLSERVER_VENV = PROJECT_ROOT / ".state" / "peers" / "mlserver-venv"
MLSERVER_PINS = ["mlserver==1.7.1", "mlserver-lightgbm==1.7.1", "uvloop<0.22"]


def ensure_mlserver_venv(log: Path) -> None:
    """MLServer pins differ from ours, so it gets its own virtualenv (created once):
    ``python3.11 -m venv .state/peers/mlserver-venv`` + ``pip install`` of MLSERVER_PINS
    (uvloop < 0.22: MLServer 1.7.1 does not start with newer uvloop)."""
    if (MLSERVER_VENV / "bin" / "mlserver").exists():
        return
    python = shutil.which("python3.11")
    if python is None:
        raise RuntimeError("python3.11 is needed to create the MLServer virtualenv")
    say(f"creating {MLSERVER_VENV} ({', '.join(MLSERVER_PINS)}); log {log}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        for cmd in (
            [python, "-m", "venv", str(MLSERVER_VENV)],
            [str(MLSERVER_VENV / "bin" / "pip"), "install", "--quiet", *MLSERVER_PINS],
        ):
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=900)


def mlserver_target(
    prep: Prepared,
    work: Path,
    config: str,
    server: dict[str, Any],
    model_extra: dict[str, Any],
    env_extra: dict[str, str],
) -> Target:
    mlserver = MLSERVER_VENV / "bin" / "mlserver"

    def start(procs: Processes, port: int, log: Path) -> subprocess.Popen[bytes]:
        from storage.embedded import free_port

        ensure_mlserver_venv(log.parent / "mlserver-venv-setup.log")
        folder = work / f"mlserver-{config}"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / MLSERVER_MODEL).mkdir(parents=True)
        settings = {
            "host": "127.0.0.1",
            "http_port": port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
            **server,
        }
        (folder / "settings.json").write_text(json.dumps(settings, indent=2))
        model = {
            "name": MLSERVER_MODEL,
            "implementation": "mlserver_lightgbm.LightGBMModel",
            "parameters": {
                "uri": prep.champion["lightgbm_text_model"],
                "version": prep.champion["version"],
            },
            **model_extra,
        }
        (folder / MLSERVER_MODEL / "model-settings.json").write_text(json.dumps(model, indent=2))
        env = base_env() | {"PATH": f"{mlserver.parent}:{os.environ.get('PATH', '')}"} | env_extra
        return procs.start([str(mlserver), "start", str(folder)], env, log, cwd=folder)

    def preds(raw: bytes) -> list[float]:
        return [float(x) for x in json.loads(raw)["outputs"][0]["data"]]

    return Target(
        target="mlserver",
        config=config,
        what="raw inference",
        settings={
            "settings.json": {
                "host": "127.0.0.1",
                "http_port": "<free>",
                "grpc_port": "<free>",
                "metrics_port": "<free>",
                **server,
            },
            "model-settings.json": {
                "implementation": "mlserver_lightgbm.LightGBMModel",
                **model_extra,
            },
            "env": env_extra,
        },
        path_single=f"/v2/models/{MLSERVER_MODEL}/infer",
        path_batch=f"/v2/models/{MLSERVER_MODEL}/infer",
        start=start,
        ready_path=f"/v2/models/{MLSERVER_MODEL}/ready",
        body_single=lambda g: mlserver_body(prep.rows([g])),
        body_batch=lambda gs: mlserver_body(prep.rows(gs)),
        predictions=preds,
    )


def mlflow_target(
    prep: Prepared, config: str, args: list[str], env_extra: dict[str, str]
) -> Target:
    mlflow = Path(sys.executable).parent / "mlflow"
    uri = prep.champion["mlflow_uri"]

    def start(procs: Processes, port: int, log: Path) -> subprocess.Popen[bytes]:
        # mlflow execs `uvicorn` through bash: the venv's bin must be on PATH
        env = (
            base_env()
            | {
                "MLFLOW_TRACKING_URI": prep.settings.mlflow_uri,
                "PATH": f"{mlflow.parent}:{os.environ.get('PATH', '')}",
            }
            | env_extra
        )
        cmd = [
            str(mlflow),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *args,
        ]
        return procs.start(cmd, env, log)

    def preds(raw: bytes) -> list[float]:
        return [float(x) for x in json.loads(raw)["predictions"]]

    names = prep.feature_names
    return Target(
        target="mlflow",
        config=config,
        what="raw inference",
        settings={
            "command": f"mlflow models serve -m {uri} --env-manager local "
            f"-h 127.0.0.1 -p <free> {' '.join(args)}".strip(),
            "env": env_extra,
        },
        path_single="/invocations",
        path_batch="/invocations",
        start=start,
        ready_path="/ping",
        body_single=lambda g: mlflow_body(prep.rows([g]), names),
        body_batch=lambda gs: mlflow_body(prep.rows(gs), names),
        predictions=preds,
    )


def _bentoml_peer(app: str, config: str, what: str, checked: bool,
                  env: dict[str, str] | None = None,
                  prepare: Callable[[], None] | None = None) -> Target:  # fmt: skip
    """A BentoML service of this project (``app``, one worker, access log off) answering at
    firstpitch's paths with firstpitch-shaped bodies; ``prepare`` runs before each start."""
    bentoml = Path(sys.executable).parent / "bentoml"

    def start(procs: Processes, port: int, log: Path) -> subprocess.Popen[bytes]:
        if prepare is not None:
            prepare()
        cmd = [str(bentoml), "serve", app, "--host", "127.0.0.1", "--port", str(port),
               "--working-dir", str(PROJECT_ROOT)]  # fmt: skip
        full = (
            base_env()
            | {
                "BENTOML_DO_NOT_TRACK": "true",
                "PATH": f"{bentoml.parent}:{os.environ.get('PATH', '')}",
            }
            | (env or {})
        )
        return procs.start(cmd, full, log, cwd=PROJECT_ROOT)

    return Target(
        target="bentoml",
        config=config,
        what=what,
        settings={"command": f"bentoml serve {app}", "workers": 1, "access_log": False},
        path_single="/api/v1/predict",
        path_batch="/api/v1/predict/batch",
        start=start,
        ready_path="/readyz",
        body_single=firstpitch_single_body,
        body_batch=firstpitch_batch_body,
        predictions=home_probabilities,
        checked=checked,
    )


def floor_target() -> Target:
    """BentoML 1.4 with firstpitch's process fixes answering a constant at firstpitch's paths
    (one worker, access log off): what a route costs before its work."""
    return _bentoml_peer("loadtests.compare.floor_service:Floor", "empty-route",
                         "a constant answer", checked=False)  # fmt: skip


def ceiling_target(prep: Prepared, work: Path) -> Target:
    """BentoML's floor plus both champions' model call on the games' vectors and a
    response of firstpitch's shape (``ceiling_service.py``): what no firstpitch on this
    machine exceeds. Its answers are checked against the champion like any peer's."""
    where = work / "ceiling"

    def prepare() -> None:
        import numpy as np

        from runners.champions import load_champions

        where.mkdir(parents=True, exist_ok=True)
        ids = sorted(prep.vectors)
        np.savez(where / "vectors.npz", ids=np.array(ids), rows=np.vstack(
            [prep.vectors[g] for g in ids]))  # fmt: skip
        for target, champ in load_champions().items():
            champ.booster.save_model(str(where / f"{target}.txt"))

    return _bentoml_peer(
        "loadtests.compare.ceiling_service:Ceiling", "models+response",
        "both champions' model call, a response of firstpitch's shape", checked=True,
        env={"FIRSTPITCH_CEILING_DIR": str(where), "OMP_NUM_THREADS": "1"}, prepare=prepare,
    )  # fmt: skip


# Tuning found on this 2-core machine (see NOTES): MLServer's best is everything in its one
# process (parallel_workers 0: no inference-pool IPC hop), no access log, no metrics
# middleware, and one OpenMP thread (LightGBM's default OpenMP team spin-waits on both cores
# and fights the server and wrk for them: ~2x fewer req/s).
MLSERVER_BEST_SERVER = {"parallel_workers": 0, "debug": False, "metrics_endpoint": None}
MLSERVER_BEST_ENV = {"OMP_NUM_THREADS": "1"}
# mlflow's scoring server is FastAPI + pandas + schema enforcement in one uvicorn worker by
# default. Two workers (one per core), no access log, one OpenMP thread each is its best
# throughput; but with --workers > 1 uvicorn binds the socket itself (proto 0), asyncio then
# skips TCP_NODELAY and every keep-alive response waits ~40 ms for the client's delayed ACK
# (Nagle): at 1 connection the default (-w 1) is faster, so both are run and each scenario's
# mlflow bar is its faster configuration.
MLFLOW_TUNED_ARGS = ["-w", "2"]
MLFLOW_TUNED_ENV = {"OMP_NUM_THREADS": "1", "UVICORN_ACCESS_LOG": "false"}
