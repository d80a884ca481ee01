"""firstpitch vs Seldon MLServer vs ``mlflow models serve``: same load generator, one run.

Usage: .venv/bin/python loadtests/compare/run_compare.py [--duration 10] [--out reports/compare]

What is compared (every server on 127.0.0.1, a free port, started and stopped by this script):
  firstpitch  the FULL prediction path (Redis feature read, cutoff check, inference of both
              champions, betting, prediction logging), prediction cache OFF, in two
              configurations: inference=service (models in the batching BentoML model service,
              the default) and inference=local (boosters in the API process).
  mlserver    MLServer 1.7.1 + mlserver-lightgbm serving the home-win champion booster
              (raw inference only), its defaults and its best configuration.
  mlflow      ``mlflow models serve`` of the same registered champion (raw inference only),
              its defaults and a tuned configuration (see MLFLOW_TUNED_*).
Scenarios (wrk -t1, keep-alive): single game at 1, 8 and 32 connections; 50 games at 8.
The same 2021 regular-season games are used for everyone: firstpitch gets their ids, the
peers get their feature vectors exactly as firstpitch reads them from Redis (NaN -> null).
Every server's answers are checked against the champion booster before it is measured.

MLServer runs from its own virtualenv, .state/peers/mlserver-venv (created on first use with
python3.11 and pip: mlserver==1.7.1, mlserver-lightgbm==1.7.1, uvloop<0.22). Generated Lua
scripts, the exported LightGBM text model, MLServer settings and every server's log go to
--work (default .state/peers/compare).

Writes <out>/compare.md and <out>/compare.json, prints the table and the target checks.
Exits 0 whether or not targets are met (a report, not a gate); 1 when nothing could be
measured, 130 when interrupted (after writing what was measured and stopping every process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    SCENARIOS,
    Measurement,
    check_targets,
    chunks,
    cpu_delta,
    firstpitch_batch_body,
    firstpitch_single_body,
    lua_script,
    mlflow_body,
    mlserver_body,
    parse_wrk,
    render_raw_table,
    render_table,
    tree_cpu,
)

PINNED = "2021-10-04T12:00:00Z"
RUN_ID = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
SINGLE_GAMES = 1000  # distinct games rotated through by single-game scenarios
MLSERVER_VENV = PROJECT_ROOT / ".state" / "peers" / "mlserver-venv"
MLSERVER_MODEL = "home-win"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
Say = Callable[[str], None]


def say(msg: str) -> None:
    print(f"[compare {datetime.now(UTC).astimezone().strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------
# Processes: everything we start is registered and torn down, whatever happens
# ----------------------------------------------------------------------------------------


class Processes:
    """Children started in their own session (pgid = pid); stopped by pid / pgid only."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 30.0) -> dict[str, Any]:
        """SIGTERM the root, wait, then SIGKILL whatever is left of its tree and group."""
        t0, graceful = time.monotonic(), True
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
        except psutil.NoSuchProcess:
            family = []
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                graceful = False
        _, alive = psutil.wait_procs([p for p in family if p.pid != proc.pid], timeout=5)
        graceful = graceful and not alive
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: pgid == pid
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)
        return {
            "stop_s": round(time.monotonic() - t0, 1),
            "graceful": graceful,
            "returncode": proc.returncode,
        }

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            with contextlib.suppress(Exception):
                self.stop(proc, grace=10.0)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


# ----------------------------------------------------------------------------------------
# Preparation: firstpitch's state, the game ids, their feature vectors, the champion
# ----------------------------------------------------------------------------------------


@dataclass
class Prepared:
    settings: Any
    endpoints: Any
    games: list[str]
    vectors: dict[str, np.ndarray]
    feature_names: tuple[str, ...]
    booster: Any
    champion: dict[str, str]
    started_embedded: list[Any] = field(default_factory=list)


async def _prepare_async(settings: Any, endpoints: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    from features.definitions import FEATURE_VERSION
    from features.materialize import materialize
    from features.store import FeatureStore
    from firstpitch.bootstrap import bring_up
    from storage import postgres
    from storage import redis as fp_redis

    await bring_up(settings, endpoints, say)
    count, elapsed = await materialize(settings, endpoints, on_date=None, season=2021)
    say(f"materialized {count} vectors of season 2021 in {elapsed:.1f} s")
    conn = await postgres.connect(endpoints.postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT game_id FROM games WHERE season = 2021 AND "
            "game_type = 'regular' ORDER BY game_id"
        )
    finally:
        await conn.close()
    games = [r["game_id"] for r in rows]
    client = await fp_redis.connect(endpoints.redis_url)
    try:
        found, refused = await FeatureStore(client, settings.feature_ttl_s).read(
            games, FEATURE_VERSION
        )
    finally:
        await client.aclose()
    if refused:
        say(f"{len(refused)} games refused by the cutoff check; left out")
    usable = [g for g in games if g in found]
    return usable, {g: found[g].values for g in usable}


def prepare(work: Path) -> Prepared:
    from firstpitch.runtime import configure_environment, resolve_endpoints
    from firstpitch.settings import Settings
    from storage.embedded import embedded_servers

    settings = Settings(now=PINNED)  # type: ignore[arg-type]
    configure_environment(settings)
    before = {s.name: s.status().running for s in embedded_servers(settings.state_dir)}
    endpoints = resolve_endpoints(settings)
    started = [s for s in embedded_servers(settings.state_dir) if not before[s.name]]
    games, vectors = asyncio.run(_prepare_async(settings, endpoints))
    if len(games) < 100:
        raise SystemExit(f"only {len(games)} servable 2021 games in the feature store")

    from features.definitions import FEATURE_NAMES
    from runners.champions import load_champions

    champ = load_champions()["home_win"]
    model_dir = work / "models" / MLSERVER_MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    champ.booster.save_model(str(model_dir / "model.txt"))
    info = champ.info()
    info["lightgbm_text_model"] = str(model_dir / "model.txt")
    info["num_trees"] = str(champ.booster.num_trees())
    say(
        f"champion {champ.name} v{champ.version} ({champ.mlflow_uri}), "
        f"{champ.booster.num_trees()} trees, {len(FEATURE_NAMES)} features; "
        f"{len(games)} games"
    )
    return Prepared(
        settings, endpoints, games, vectors, FEATURE_NAMES, champ.booster, info, started
    )


# ----------------------------------------------------------------------------------------
# Targets: how to start each server, its request bodies, its correctness check
# ----------------------------------------------------------------------------------------


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


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("FIRSTPITCH_", "MLSERVER_", "UVICORN_", "OMP_")) or k == "PYTHONPATH":
            env.pop(k)
    return env


def firstpitch_target(
    prep: Prepared, inference: str, log: bool = True, env: dict[str, str] | None = None
) -> Target:
    """firstpitch's full path; ``log=False`` is the benchmark-only peer without prediction
    logging, measured beside it to show what logging costs the request path; ``env``: more
    settings of the service."""
    from firstpitch.serve import launch

    extra = {
        "FIRSTPITCH_NOW": PINNED,
        "FIRSTPITCH_PREDICTION_CACHE": "false",
        "FIRSTPITCH_INFERENCE": inference,
        "FIRSTPITCH_AUTH_ENABLED": "false",  # the peers serve without keys too
        "FIRSTPITCH_PREDICTION_LOG": "true" if log else "false",
    } | (env or {})

    def start(procs: Processes, port: int, log: Path) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        # launch() lets `bentoml serve` inherit our stdout/stderr: point them at the log
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with log.open("ab") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            try:
                proc = launch(prep.settings, prep.endpoints, "127.0.0.1", port, **extra)
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        procs.procs.append(proc)
        return proc

    def preds(raw: bytes) -> list[float]:
        body = json.loads(raw)
        items = body if isinstance(body, list) else [body]
        return [float(x["home_ml_probability"]) for x in items]

    return Target(
        target="firstpitch",
        config=f"inference={inference}" + ("" if log else "+log=off"),
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
        predictions=preds,
        # every request of this run and configuration carries one X-Request-ID, so the rows
        # the service logged can be counted afterwards (prediction_log.request_id)
        headers={"X-Request-ID": f"compare-{RUN_ID}-{inference}"} if log else {},
    )


def _rows(prep: Prepared, games: list[str]) -> list[list[float]]:
    return [prep.vectors[g].tolist() for g in games]


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
        env = _base_env() | {"PATH": f"{mlserver.parent}:{os.environ.get('PATH', '')}"} | env_extra
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
        body_single=lambda g: mlserver_body(_rows(prep, [g])),
        body_batch=lambda gs: mlserver_body(_rows(prep, gs)),
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
            _base_env()
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
        body_single=lambda g: mlflow_body(_rows(prep, [g]), names),
        body_batch=lambda gs: mlflow_body(_rows(prep, gs), names),
        predictions=preds,
    )


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

NOTES = {
    ("firstpitch", "inference=service"): "API worker + batching model service "
    "(bentoml.depends over a Unix socket); prediction cache off; everything else as "
    "the working tree's Settings defaults (see Code above)",
    ("firstpitch", "inference=local"): "the project default: boosters in the API process, "
    "no model-service hop; prediction cache off",
    ("mlserver", "best"): "parallel_workers=0 (inference in the server process), debug=false "
    "(no access log), metrics_endpoint=null (no metrics server/middleware), OMP_NUM_THREADS=1",
    ("mlserver", "default"): "MLServer defaults (parallel_workers=1 inference pool, debug=true "
    "access log, metrics on port metrics_port); only host/ports set",
    ("mlflow", "tuned"): "-w 2 uvicorn workers, UVICORN_ACCESS_LOG=false, OMP_NUM_THREADS=1; "
    "suffers Nagle/delayed-ACK (~40 ms) on keep-alive connections because uvicorn's "
    "multi-worker socket gets no TCP_NODELAY",
    ("mlflow", "default"): "mlflow models serve defaults (-w 1, timeout 60 s, access log on)",
}


def all_targets(prep: Prepared, work: Path) -> list[Target]:
    """Run order: firstpitch, then each peer's tuned configuration, then its defaults."""
    return [
        firstpitch_target(prep, "service"),
        firstpitch_target(prep, "local"),
        firstpitch_target(prep, "local", log=False),
        mlserver_target(prep, work, "best", MLSERVER_BEST_SERVER, {}, MLSERVER_BEST_ENV),
        mlserver_target(prep, work, "default", {}, {}, {}),
        mlflow_target(prep, "tuned", MLFLOW_TUNED_ARGS, MLFLOW_TUNED_ENV),
        mlflow_target(prep, "default", [], {}),
    ]


# ----------------------------------------------------------------------------------------
# Running one target
# ----------------------------------------------------------------------------------------


def http(
    url: str, body: str | None = None, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = body.encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 240.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if http(url, timeout=2)[0] == 200:
                return True
        time.sleep(0.5)
    return False


def run_wrk(base: str, script: Path, connections: int, duration: float, timeout_s: int) -> str:
    cmd = [
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        base,
        "--",
        str(connections),  # connections per thread (-t1): 1 turns on exact per-request timing
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=duration + timeout_s + 30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]}")
    if "WRKJSON " not in text:  # wrk only warns when a script fails to load, then sends GET /
        raise RuntimeError(f"wrk ran without our Lua script's summary: {text[-2000:]}")
    return text


@dataclass
class Workload:
    single_games: list[str]
    batches: list[list[str]]


def write_scripts(target: Target, load: Workload, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    single = folder / f"{target.target}-{target.config}-single.lua".replace("=", "-")
    batch = folder / f"{target.target}-{target.config}-batch50.lua".replace("=", "-")
    single.write_text(
        lua_script(
            target.path_single, [target.body_single(g) for g in load.single_games], target.headers
        )
    )
    batch.write_text(
        lua_script(target.path_batch, [target.body_batch(b) for b in load.batches], target.headers)
    )
    return {"single": single, "batch": batch}


def verify(target: Target, base: str, prep: Prepared, games: list[str]) -> dict[str, Any]:
    """One batch request of real games: every answer must equal the champion's own output."""
    expected = prep.booster.predict(np.array(_rows(prep, games), dtype=np.float64))
    status, raw = http(base + target.path_batch, target.body_batch(games), headers=target.headers)
    if status != 200:
        raise RuntimeError(f"{target.target}/{target.config} answered {status}: {raw[:300]!r}")
    got = np.array(target.predictions(raw), dtype=np.float64)
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    status1, raw1 = http(
        base + target.path_single, target.body_single(games[0]), headers=target.headers
    )
    ok1 = status1 == 200 and abs(target.predictions(raw1)[0] - float(expected[0])) < 1e-6
    return {
        "rows": len(games),
        "max_abs_diff_vs_champion": diff,
        "single_ok": ok1,
        "nan_features_in_check": int(np.isnan(np.array(_rows(prep, games))).sum()),
        "response_bytes_batch": len(raw),
        "response_bytes_single": len(raw1),
    }


def run_target(
    target: Target,
    procs: Processes,
    prep: Prepared,
    load: Workload,
    args: argparse.Namespace,
    work: Path,
    out: list[Measurement],
    meta: dict[str, Any],
) -> None:
    """Start, check, warm up, measure every scenario (appending to ``out`` as it goes, so an
    interrupted run keeps what it measured), stop. ``meta`` collects the configuration."""
    from storage.embedded import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "logs" / f"{target.target}-{target.config}.log".replace("=", "-")
    log.unlink(missing_ok=True)
    scripts = write_scripts(target, load, work / "lua")
    say(f"starting {target.target} [{target.config}] on {base} (log {log})")
    t0 = time.monotonic()
    proc = target.start(procs, port, log)
    served_rows = 0
    meta.update(
        {
            "target": target.target,
            "config": target.config,
            "settings": target.settings,
            "log": str(log),
        }
    )
    try:
        if not wait_ready(base + target.ready_path, proc):
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"{target.target}/{target.config} did not become ready:\n{tail}")
        meta["startup_s"] = round(time.monotonic() - t0, 1)
        meta["check"] = verify(target, base, prep, load.batches[0])
        served_rows += len(load.batches[0]) + 1
        say(f"ready in {meta['startup_s']} s; check {meta['check']}")
        if args.warmup > 0:
            for script, rows, secs in (
                (scripts["single"], 1, args.warmup),
                (scripts["batch"], 50, max(1.0, args.warmup / 2)),
            ):
                warm = parse_wrk(run_wrk(base, script, 8, secs, args.wrk_timeout))
                served_rows += (warm.requests - warm.non_200) * rows
        for sc in args.scenarios:
            time.sleep(args.pause)
            script = scripts["single" if sc.rows == 1 else "batch"]
            rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu0, w0 = tree_cpu(proc.pid), time.monotonic()
            text = run_wrk(base, script, sc.connections, args.duration, args.wrk_timeout)
            cpu1, w1 = tree_cpu(proc.pid), time.monotonic()
            rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            client = (rusage1.ru_utime - rusage0.ru_utime) + (rusage1.ru_stime - rusage0.ru_stime)
            m = Measurement(
                target.target,
                target.config,
                sc.name,
                sc.connections,
                sc.rows,
                target.what,
                parse_wrk(text),
                cpu_delta(cpu0, cpu1),
                w1 - w0,
                client,
            )
            out.append(m)
            served_rows += (m.wrk.requests - m.wrk.non_200) * sc.rows
            d = m.as_dict()
            say(
                f"  {sc.name:<11} {d['req_per_s']:>8.1f} req/s  p50 {d['p50_ms']} ms  "
                f"p90 {d['p90_ms']} ms  p99 {d['p99_ms']} ms  errors {d['errors']}  "
                f"server CPU {d['server_cpu_pct']}%"
            )
            if m.wrk.first_bad:
                say(f"    first non-200: {m.wrk.first_bad}")
    finally:
        meta["stop"] = procs.stop(proc, grace=args.stop_grace)
        say(f"stopped {target.target} [{target.config}]: {meta['stop']}")
        if target.target == "firstpitch" and log.exists():  # BentoML access-log lines
            text = log.read_text(errors="replace")
            meta["access_log_lines"] = text.count(f"path={target.path_single}") + text.count(
                f"path={target.path_batch}"
            )
        if "X-Request-ID" in target.headers:
            try:
                logged: int | str = asyncio.run(_logged_rows(prep, target.headers["X-Request-ID"]))
            except Exception as exc:  # a report line, never a reason to fail the run
                logged = f"could not count: {exc}"
            meta["prediction_log"] = {
                "request_id": target.headers["X-Request-ID"],
                "served_rows": served_rows,
                "logged_rows": logged,
            }
            say(f"prediction log: {meta['prediction_log']}")


async def _logged_rows(prep: Prepared, request_id: str) -> int:
    from storage import postgres

    conn = await postgres.connect(prep.endpoints.postgres_dsn)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM prediction_log WHERE request_id = $1", request_id
        )
    finally:
        await conn.close()
    return int(n)


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def write_report(
    out_dir: Path,
    rows: list[dict[str, Any]],
    metas: list[dict[str, Any]],
    header: dict[str, Any],
    failures: list[str],
) -> str:
    checks = check_targets(rows)
    table = render_table(rows)
    lines = [
        "# firstpitch vs MLServer vs mlflow models serve",
        "",
        f"Run {header['started_at']} → {header['finished_at']} on {header['machine']}; "
        f"wrk -t1, {header['duration_s']:g} s per scenario, keep-alive; all servers on "
        "127.0.0.1 of the same machine as wrk (shared machine; load average 1/5/15 min "
        f"{header['load_average_start']} at start, {header['load_average_end']} at end).",
        "",
        f"Code: HEAD {header['git']['head']}, uncommitted changes: "
        f"{', '.join(header['git']['uncommitted']) or 'none'}.",
        "",
        "firstpitch = **full path** (Redis feature read, cutoff check, both champions, betting, "
        "prediction log), prediction cache off. mlserver / mlflow = **raw inference** of the "
        "home-win champion only (feature vectors in the request).",
        "",
        table,
        "",
        "Latencies above are wrk's. wrk corrects its histogram for coordinated omission "
        "(`stats_correct`): a request slower than twice the mean per-connection interval adds "
        "synthetic samples at that latency minus 1, 2, … intervals, so a handful of real "
        "stalls inflate p90/p99 (most at 1 connection). Req/s, errors and CPU are not "
        "affected. Server CPU % = CPU seconds of the server's process tree per wall second "
        "(200% = both cores).",
        "",
        "### 1 connection: exact per-request latency (LuaJIT clock in the wrk script)",
        "",
        render_raw_table(rows),
        "",
        "## Targets (firstpitch full path vs the peers' fastest configuration, same run)",
        "",
        "Judged on wrk's numbers as printed above.",
        "",
        *[c.line() for c in checks],
        "",
        "## Configurations",
        "",
    ]
    for meta in metas:
        note = NOTES.get((meta["target"], meta["config"]), "")
        lines.append(
            f"- **{meta['target']} [{meta['config']}]** — {note}: "
            f"`{json.dumps(meta['settings'])}`; startup {meta.get('startup_s')} s; "
            f"check {json.dumps(meta.get('check'))}; stop {json.dumps(meta.get('stop'))}"
            + (
                f"; access-log lines {meta['access_log_lines']}"
                if "access_log_lines" in meta
                else ""
            )
            + (
                f"; prediction log {json.dumps(meta['prediction_log'])}"
                if "prediction_log" in meta
                else ""
            )
        )
    if failures:
        lines += ["", "## Failures", "", *[f"- {f}" for f in failures]]
    md = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.md").write_text(md)
    payload = {
        **header,
        "results": rows,
        "targets": [c.__dict__ for c in checks],
        "configurations": metas,
        "failures": failures,
    }
    (out_dir / "compare.json").write_text(json.dumps(payload, indent=2))
    return (
        table
        + "\n\n1 connection, exact per-request latency:\n"
        + render_raw_table(rows)
        + "\n\n"
        + "\n".join(c.line() for c in checks)
    )


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------


def _git_state() -> dict[str, Any]:
    """Which code was measured (read-only git queries): HEAD and uncommitted changes."""

    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", *cmd], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    status = git("status", "--porcelain").splitlines()
    return {"head": git("rev-parse", "--short", "HEAD"), "uncommitted": [x for x in status if x]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "compare")
    parser.add_argument(
        "--work",
        type=Path,
        default=PROJECT_ROOT / ".state" / "peers" / "compare",
        help="generated Lua scripts, peer model files and server logs",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    parser.add_argument("--pause", type=float, default=1.0, help="idle seconds between runs")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=30.0,  # what firstpitch.serve.stop() gives `bentoml serve`
        help="seconds a server gets to exit after SIGTERM before its tree is SIGKILLed",
    )
    parser.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout seconds")
    parser.add_argument("--only", default="", help="comma list of target or target/config")
    parser.add_argument(
        "--scenario", action="append", default=[], help="scenario name(s) to run (default: all)"
    )
    args = parser.parse_args(argv)
    names = set(args.scenario)
    args.scenarios = [s for s in SCENARIOS if not names or s.name in names]
    return args


def _selected(target: Target, only: str) -> bool:
    if not only:
        return True
    picks = {p.strip() for p in only.split(",") if p.strip()}
    return target.target in picks or f"{target.target}/{target.config}" in picks


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, _raise_interrupt) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    out_dir: Path = args.out if args.out.is_absolute() else (Path.cwd() / args.out)
    procs = Processes()
    prep: Prepared | None = None
    rows: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    failures: list[str] = []
    interrupted = False
    load_start = [round(x, 2) for x in os.getloadavg()]
    started_at = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    with _signals():
        try:
            prep = prepare(work)
            step = max(1, len(prep.games) // SINGLE_GAMES)
            load = Workload(
                single_games=prep.games[::step][:SINGLE_GAMES], batches=chunks(prep.games, 50)
            )
            say(
                f"workload: {len(load.single_games)} single games, {len(load.batches)} "
                f"batches of 50"
            )
            for target in all_targets(prep, work):
                if not _selected(target, args.only):
                    continue
                measured: list[Measurement] = []
                meta: dict[str, Any] = {}
                metas.append(meta)
                try:
                    run_target(target, procs, prep, load, args, work, measured, meta)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    failures.append(f"{target.target}/{target.config}: {exc}")
                    say(f"FAILED {target.target}/{target.config}: {exc}")
                    meta.update(
                        {
                            "target": target.target,
                            "config": target.config,
                            "settings": target.settings,
                            "error": str(exc),
                        }
                    )
                finally:
                    rows.extend(m.as_dict() for m in measured)
        except KeyboardInterrupt as exc:
            interrupted = True
            failures.append(f"interrupted: {exc}")
            say(f"interrupted ({exc}); cleaning up")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
            procs.stop_all()
            if prep is not None:
                for server in prep.started_embedded:
                    with contextlib.suppress(Exception):
                        server.stop()
                        say(f"stopped embedded {server.name} (started by this run)")
    header = {
        "started_at": started_at,
        "finished_at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "duration_s": args.duration,
        "pinned_now": PINNED,
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "wrk": "wrk -t1 -c<N> -d<duration>s --latency --timeout "
        f"{args.wrk_timeout}s -s <generated.lua> <url> -- <N>",
        "champion": prep.champion if prep else None,
        "git": _git_state(),
    }
    if not rows:
        say("nothing was measured")
        write_report(out_dir, rows, metas, header, failures)
        return 130 if interrupted else 1
    summary = write_report(out_dir, rows, metas, header, failures)
    print()
    print(summary)
    print(f"\nwrote {out_dir / 'compare.md'} and {out_dir / 'compare.json'}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
