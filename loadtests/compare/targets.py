"""The servers compared: how each starts, what it is sent, how its answers are read, and the
run order; firstpitch's full path here, the peers (MLServer, mlflow) in ``peers.py``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.compare.prepare import PINNED, RUN_ID, Prepared
from loadtests.compare.workload import (
    firstpitch_batch_body,
    firstpitch_single_body,
    home_probabilities,
)
from loadtests.harness.processes import Processes
from loadtests.harness.stack import launch_service, service_ready
from storage.embedded import free_port


@dataclass
class Target:
    target: str
    config: str
    what: str
    settings: dict[str, Any]  # documented in the report
    path_single: str
    path_batch: str
    start: Callable[[Processes, int, Path], subprocess.Popen[bytes]]
    ready_path: str
    body_single: Callable[[str], str]
    body_batch: Callable[[list[str]], str]
    predictions: Callable[[bytes], list[float]]  # home-win probabilities from a response
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request
    checked: bool = True  # its answers are the champion's (False: a constant, the floor)


def start_ready(target: Target, procs: Processes, log: Path, label: str) -> str:
    """Start ``target`` on a free port and wait (up to 240 s) until it is ready; its base
    URL. Raises, naming ``label``, if it stops or never becomes ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if not service_ready(base, target.start(procs, port, log), 240):
        raise RuntimeError(f"{label}: the service did not become ready")
    return base


def firstpitch_target(
    prep: Prepared,
    inference: str,
    log: bool = True,
    env: dict[str, str] | None = None,
    cache: bool = False,
) -> Target:
    """firstpitch's full path; ``log=False`` is the benchmark-only peer without prediction
    logging, measured beside it to show what logging costs the request path; ``cache``: the
    prediction cache on, so that every request after a game's first is a cache hit; ``env``:
    more settings of the service."""
    extra = {
        "FIRSTPITCH_NOW": PINNED,
        "FIRSTPITCH_PREDICTION_CACHE": str(cache).lower(),
        "FIRSTPITCH_INFERENCE": inference,
        "FIRSTPITCH_AUTH_ENABLED": "false",  # the peers serve without keys too
        "FIRSTPITCH_PREDICTION_LOG": "true" if log else "false",
    } | (env or {})

    def start(procs: Processes, port: int, log: Path) -> subprocess.Popen[bytes]:
        return procs.adopt(launch_service(prep.stack, port, log, **extra))

    return Target(
        target="firstpitch",
        config=f"inference={inference}" + ("" if log else "+log=off") + ("+cache" if cache else ""),
        what="full path",
        settings={
            "command": "bentoml serve service:FirstPitch (firstpitch.serve.launch)",
            "env": extra,
            "api_workers": 1,
            "model_workers": 1,
            "batching": inference == "service",
        },
        path_single="/api/v1/predict",
        path_batch="/api/v1/predict/batch",
        start=start,
        ready_path="/health/ready",
        body_single=firstpitch_single_body,
        body_batch=firstpitch_batch_body,
        predictions=home_probabilities,
        # every request of this run and configuration carries one X-Request-ID, so the rows
        # the service logged can be counted afterwards (prediction_log.request_id)
        headers={"X-Request-ID": f"compare-{RUN_ID}-{inference}"} if log else {},
    )
