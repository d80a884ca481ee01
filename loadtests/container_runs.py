"""Load and fault runs through the containers (`make container-load`).

Brings up its own compose project (deploy/compose.sh, the image $FIRSTPITCH_IMAGE, default
firstpitch:latest from `make container`), loads the data and the 2021 feature vectors from
the host into the stack's Postgres and Redis, and measures:

- cold start: `compose up firstpitch` (Postgres, Redis, MLflow already healthy) to
  /health/ready;
- locust with loadtests/thresholds.yaml through the container, and the same run against
  `bentoml serve` on the host (embedded servers) right after it, for the ratio;
- faults under load (the fault tests' closed-loop clients, loadtests/harness/closed_loop.py):
  the Redis container stopped and started, the Postgres container restarted (every served
  prediction must reach the log), the Bento container stopped with SIGTERM (its log queue
  flushed: every served prediction logged, exit code 0).

Everything it started is removed at the end. Writes reports/container/summary.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from loadtests.harness.closed_loop import Load
from loadtests.harness.prediction_log import wait_logged
from loadtests.harness.reports import PROJECT_ROOT
from loadtests.harness.round_robin import round_robin

ROOT = PROJECT_ROOT

PINNED = "2021-10-04T12:00:00Z"
COMPOSE = ROOT / "deploy" / "compose.sh"
BIN = Path(sys.executable).parent


def sh(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}: {done.stderr[-2000:]}")
    return done.stdout


class Stack:
    def __init__(self, project: str, image: str) -> None:
        from storage.embedded import free_port

        self.ports = {n: free_port() for n in ("FIRSTPITCH", "POSTGRES", "REDIS", "MLFLOW",
                                                "PROMETHEUS")}  # fmt: skip
        self.env = os.environ | {f"{n}_PORT": str(p) for n, p in self.ports.items()} | {
            "COMPOSE_PROJECT_NAME": project, "FIRSTPITCH_IMAGE": image,
            "FIRSTPITCH_NOW": PINNED, "FIRSTPITCH_RATE_LIMIT_BURST": "1000000"}  # fmt: skip
        self.project = project
        self.url = f"http://127.0.0.1:{self.ports['FIRSTPITCH']}"
        self.dsn = (
            f"postgresql://firstpitch:firstpitch@127.0.0.1:{self.ports['POSTGRES']}/firstpitch"
        )
        self.redis = f"redis://127.0.0.1:{self.ports['REDIS']}/0"
        self.docker = sh(str(ROOT / "deploy" / "container" / "docker.sh"), "ensure").split()[-1]

    def down(self) -> None:
        subprocess.run([str(COMPOSE), "down", "-v", "--remove-orphans"], env=self.env,
                       capture_output=True, timeout=300)  # fmt: skip

    def compose(self, *args: str) -> str:
        return sh(str(COMPOSE), *args, env=self.env)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).strip()

    def wait_ready(self, within: float = 300) -> float:
        return wait_ready(self.url, within)


def wait_ready(url: str, within: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become ready")


async def load_data(stack: Stack, data_dir: Path) -> tuple[list[str], str]:
    from features.materialize import materialize
    from firstpitch.runtime import Endpoints
    from firstpitch.settings import Settings
    from ingest.loader import ingest
    from storage import api_keys, postgres

    conn = await postgres.connect(stack.dsn)
    try:
        await ingest(conn, data_dir, set(range(2005, 2022)))
        settings = Settings(now=PINNED, postgres_dsn=stack.dsn, redis_url=stack.redis)  # type: ignore[arg-type]
        await materialize(settings, Endpoints(stack.dsn, stack.redis), on_date=None, season=2021)
        rows = await conn.fetch("SELECT game_id FROM games WHERE season = 2021 AND game_type = "
                                "'regular' AND game_date < '2021-10-04' ORDER BY game_id")  # fmt: skip
        _, token = await api_keys.create(conn, "container-load", ["predictions", "models"], 10**8)
    finally:
        await conn.close()
    return [r["game_id"] for r in rows], token


def locust(out: Path, *extra: str) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "python"), str(ROOT / "loadtests" / "run_loadtest.py"), "--out",
                    str(out), *extra], cwd=ROOT, timeout=1800)  # fmt: skip
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


async def under_load(stack: Stack, games: list[str], key: str, fault: Any,
                     before: float = 10, after: float = 20) -> dict[str, Any]:  # fmt: skip
    load = Load(stack.url, {"Authorization": f"Bearer {key}"}, games, concurrency=8)
    load.start()
    await asyncio.sleep(before)
    t0 = time.monotonic()
    facts = await asyncio.to_thread(fault)
    t1 = time.monotonic()
    await asyncio.sleep(after)
    await load.stop()
    found = await wait_logged(stack.dsn, load.prefix, load.served_records(), seconds=90)
    return {**facts, "requests": len(load.outcomes),
            "statuses": {str(k): v for k, v in load.statuses().items()},
            "during": {str(k): v for k, v in load.statuses(load.between(t0, t1 + 5)).items()},
            "served_records": load.served_records(), "logged_rows": found.rows,
            "duplicates": found.rows - found.distinct,
            "served_not_logged": len(load.served_ids() - found.request_ids)}  # fmt: skip


def faults(stack: Stack, games: list[str], key: str) -> dict[str, Any]:
    docker = stack.docker

    def redis_down() -> dict[str, Any]:
        sh(docker, "stop", stack.container("redis"))
        time.sleep(10)
        sh(docker, "start", stack.container("redis"))
        return {"redis_down_s": 10}

    def postgres_restart() -> dict[str, Any]:
        t = time.monotonic()
        sh(docker, "restart", "-t", "10", stack.container("postgres"))
        return {"restart_s": round(time.monotonic() - t, 1)}

    def sigterm() -> dict[str, Any]:
        cid = stack.container("firstpitch")
        t = time.monotonic()
        sh(docker, "stop", "-t", "45", cid)  # SIGTERM, SIGKILL only after 45 s
        stopped = round(time.monotonic() - t, 1)
        code = sh(docker, "inspect", "-f", "{{.State.ExitCode}}", cid).strip()
        sh(docker, "start", cid)
        return {
            "stop_s": stopped,
            "exit_code": int(code),
            "ready_again_s": round(stack.wait_ready(), 1),
        }

    results = {}
    for name, fault in (("redis_stop_start", redis_down), ("postgres_restart", postgres_restart),
                        ("bento_sigterm", sigterm)):  # fmt: skip
        print(f"fault: {name}", flush=True)
        results[name] = asyncio.run(under_load(stack, games, key, fault))
        print(f"  {json.dumps(results[name])}", flush=True)
        stack.wait_ready()
    return results


def two_replicas(stack: Stack, games: list[str], image: str) -> dict[str, Any]:
    """Two Bento containers on the stack's network (default rate-limit burst), sharing its
    Redis and Postgres, behind one address: the log holds every answer of both, and one
    key's limit (30 a minute) holds across them."""
    from storage.embedded import free_port

    ports = [free_port(), free_port()]
    names = [f"{stack.project}-replica-{i}" for i in range(2)]
    env = ["-e", "FIRSTPITCH_POSTGRES_DSN=postgresql://firstpitch:firstpitch@postgres:5432/firstpitch",
           "-e", "FIRSTPITCH_REDIS_URL=redis://redis:6379/0", "-e", f"FIRSTPITCH_NOW={PINNED}"]  # fmt: skip
    try:
        for name, port in zip(names, ports, strict=True):
            sh(stack.docker, "run", "-d", "--name", name, "--network", f"{stack.project}_default",
               "-p", f"127.0.0.1:{port}:3000", *env, image)  # fmt: skip
        for port in ports:
            wait_ready(f"http://127.0.0.1:{port}")
        return asyncio.run(_replicas_under_load(stack, games, ports))
    finally:
        subprocess.run([stack.docker, "rm", "-f", *names], capture_output=True, timeout=120)


async def _replicas_under_load(stack: Stack, games: list[str], ports: list[int]) -> dict[str, Any]:
    from storage import api_keys, postgres

    hits: Counter[int] = Counter()
    server, port = await round_robin(ports, hits)
    url = f"http://127.0.0.1:{port}"
    conn = await postgres.connect(stack.dsn)
    try:
        _, open_key = await api_keys.create(conn, "replicas", ["predictions"], 10**8)
        _, limited = await api_keys.create(conn, "replicas-limited", ["predictions"], 30)
    finally:
        await conn.close()
    try:
        load = Load(url, {"Authorization": f"Bearer {open_key}"}, games, concurrency=8)
        load.start()
        await asyncio.sleep(20)
        await load.stop()
        found = await wait_logged(stack.dsn, load.prefix, load.served_records(), seconds=90)
        async with httpx.AsyncClient(
            timeout=30, headers={"Authorization": f"Bearer {limited}"}
        ) as client:
            codes = await asyncio.gather(*(client.post(f"{url}/api/v1/predict", json={"game_id": games[0]})
                                           for _ in range(80)))  # fmt: skip
    finally:
        server.close()
    return {"requests": len(load.outcomes), "statuses": {str(k): v for k, v in load.statuses().items()},
            "connections_per_replica": [hits[p] for p in ports], "served_records": load.served_records(),
            "logged_rows": found.rows, "served_not_logged": len(load.served_ids() - found.request_ids),
            "limited_key_30_per_min": {"sent": 80, "accepted": sum(r.status_code == 200 for r in codes),
                                       "refused_429": sum(r.status_code == 429 for r in codes)}}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--image", default=os.environ.get("FIRSTPITCH_IMAGE", "firstpitch:latest"))
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get(
        "FIRSTPITCH_DATA_DIR", ROOT.parent / "shared" / "data")))  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "container")
    p.add_argument("--skip-host", action="store_true", help="no host run for the ratio")
    p.add_argument("--only", choices=["all", "faults", "replicas"], default="all",
                   help="faults: no locust; replicas: only the two-replica run")  # fmt: skip
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stack = Stack(f"fpload{os.getpid()}", args.image)
    summary: dict[str, Any] = {"image": args.image}
    try:
        stack.compose("up", "-d", "postgres", "redis", "mlflow")  # prometheus needs firstpitch
        games, key = asyncio.run(load_data(stack, args.data_dir))
        t = time.monotonic()
        stack.compose("up", "-d", "firstpitch")
        stack.wait_ready()
        summary["cold_start_s"] = round(time.monotonic() - t, 1)
        stack.compose("up", "-d", "prometheus")
        print(
            f"cold start (compose up firstpitch -> ready): {summary['cold_start_s']} s", flush=True
        )
        (args.out / "games.json").write_text(json.dumps(games))
    except BaseException:
        stack.down()
        raise
    try:
        if args.only == "all":
            summary["locust_container"] = locust(
            args.out / "locust", "--url", stack.url, "--api-key", key, "--games-file",
            str(args.out / "games.json"), "--redis-url", stack.redis)  # fmt: skip
        if args.only == "all" and not args.skip_host:
            summary["locust_host"] = locust(args.out / "locust-host")
        if args.only != "replicas":
            summary["faults"] = faults(stack, games, key)
        print("two replicas behind one address", flush=True)
        summary["two_replicas"] = two_replicas(stack, games, args.image)
        print(f"  {json.dumps(summary['two_replicas'])}", flush=True)
    finally:
        name = "summary.json" if args.only == "all" else f"summary-{args.only}.json"
        (args.out / name).write_text(json.dumps(summary, indent=2, default=str))
        stack.down()
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
