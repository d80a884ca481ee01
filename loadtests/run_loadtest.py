"""Locust load test of the prediction API, gated by latency thresholds.

Usage:
  .venv/bin/python loadtests/run_loadtest.py --smoke          # harness check: 8 s of load
  .venv/bin/python loadtests/run_loadtest.py                  # benchmark: 20 users, 60 s
  .venv/bin/python loadtests/run_loadtest.py --url http://127.0.0.1:PORT --games-file ids.json \
      [--redis-url redis://127.0.0.1:PORT/0]                  # against a running service

Without --url it brings the stack up on the embedded defaults (the clock pinned to
2021-10-04, after the 2021 regular season, so every 2021 game is predictable from its
cutoff vector): servers, ingest/training only if needed, the 2021 feature vectors, then
``bentoml serve`` on a free loopback port; whatever it started is stopped at the end, also
on errors, Ctrl-C and SIGTERM. The prediction cache (``fp:pred:*`` keys; shared with any
other service on the same Redis) is emptied first when the Redis URL is known, a small "hit"
set is predicted, and locust (loadtests/locustfile.py) runs headless as a subprocess:
locust must never share a process with bentoml/ssl.

Every scenario row of ``<out>/locust_stats.csv`` is checked against the thresholds file
(p50/p95/p99 maxima in ms, failures, minimum requests and req/s, expected cache behaviour)
and so is the aggregate; a table is printed, ``<out>/summary.json`` written, and the exit
code is 0 (all pass), 1 (a breach) or 2 (the harness itself failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtests.harness.locust_run import HarnessError, run_locust
from loadtests.harness.stack import (
    flush_predictions,
    launch_service,
    load_key,
    open_stack,
    season_games,
    season_ready,
    service_ready,
    stop_service,
)
from loadtests.harness.thresholds import load_thresholds, verdict_report
from storage.embedded import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PINNED = "2021-10-04T12:00:00Z"
SEASON = 2021
HIT_COUNT = 20  # the warmed set: small enough for one batch request (the API's max is 50)
SMOKE = {"users": 7, "spawn_rate": 7.0, "duration": "8s"}  # one user per user class
REAL = {"users": 20, "spawn_rate": 20.0, "duration": "60s"}


# ---------------------------------------------------------------------------- game ids
def split_pools(ids: list[str], seed: int = SEASON) -> dict[str, list[str]]:
    """Disjoint id pools: "hit" (warmed), "miss" (each requested once) and "batch".

    Shuffled with a fixed seed so every pool spreads over teams and dates; misses get two
    thirds of the rest because they are consumed one id per request and must not run out.
    """
    unique = sorted(set(ids))
    if len(unique) < HIT_COUNT + 100:
        raise HarnessError(f"need at least {HIT_COUNT + 100} game ids, got {len(unique)}")
    random.Random(seed).shuffle(unique)
    hit, rest = unique[:HIT_COUNT], unique[HIT_COUNT:]
    cut = len(rest) * 2 // 3
    return {"hit": hit, "miss": rest[:cut], "batch": rest[cut:]}


def read_games_file(path: Path) -> dict[str, list[str]]:
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        return {k: [str(g) for g in data[k]] for k in ("hit", "miss", "batch")}
    if isinstance(data, list):
        return split_pools([str(g) for g in data])
    raise HarnessError(f"{path}: expected a JSON list of game ids")


# ---------------------------------------------------------------------------- the stack
@dataclass
class Target:
    url: str
    redis_url: str | None
    pools: dict[str, list[str]]
    api_key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def _say(msg: str) -> None:
    print(f"  {msg}", flush=True)


@contextlib.contextmanager
def own_stack(now: str, out: Path) -> Iterator[Target]:
    """Bring up servers, data, models and the service; stop whatever this started."""
    print(f"bringing up the stack (now: {now})", flush=True)
    stack = open_stack(now)
    proc: subprocess.Popen[bytes] | None = None
    try:
        settings, endpoints = stack.settings, stack.endpoints
        print(f"  state: {settings.state_dir}", flush=True)
        assert settings.now is not None
        asyncio.run(season_ready(stack, SEASON, _say))
        today = settings.now.astimezone(settings.tz).date()
        ids = asyncio.run(season_games(endpoints.postgres_dsn, SEASON, before=today))
        token = asyncio.run(load_key(endpoints.postgres_dsn, "loadtest", ["predictions", "models"]))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = out / "service.log"
        # Limits count games, and the burst is what a key may ask for at once: the loadtest
        # key (10**8 a minute) must not be refused when batches arrive together.
        proc = launch_service(stack, port, log, FIRSTPITCH_NOW=now,
                              FIRSTPITCH_RATE_LIMIT_BURST="1000000")  # fmt: skip
        print(f"  service starting at {url} (log: {log})", flush=True)
        if not service_ready(url, proc):
            raise HarnessError(f"the service did not become ready; see {log}")
        yield Target(url, endpoints.redis_url, split_pools(ids), token)
    finally:
        if proc is not None:
            stop_service(proc)
            print("  stopped the service", flush=True)
        stack.stop_started(_say)


def warm(target: Target) -> None:
    """Predict the "hit" set, check that the service caches it, and warm up the paths."""
    hit = target.pools["hit"]
    with httpx.Client(base_url=target.url, timeout=60, headers=target.headers) as client:
        for _ in range(2):  # the second answer must come from the cache
            resp = client.post("/api/v1/predict/batch", json={"game_ids": hit})
            if resp.status_code != 200:
                raise HarnessError(
                    f"warming {len(hit)} games answered {resp.status_code}: {resp.text[:300]}"
                )
        if not all(p["cache_hit"] for p in resp.json()):
            raise HarnessError("the service does not cache predictions (prediction_cache off?)")
        for game in hit:
            for resp in (
                client.post("/api/v1/predict", json={"game_id": game}),
                client.get(f"/api/v1/predict/{game}"),
            ):
                if resp.status_code != 200:
                    raise HarnessError(f"warm-up of {game} answered {resp.status_code}")
        resp = client.get("/api/v1/predictions/today")
        if resp.status_code != 200:
            raise HarnessError(f"predictions/today answered {resp.status_code}: {resp.text[:300]}")
        print(
            f"  warmed {len(hit)} games; today ({resp.json()['date']}) has "
            f"{resp.json()['count']} predictions",
            flush=True,
        )


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a few seconds, one user per scenario, loose thresholds",
    )
    p.add_argument("--users", type=int, help=f"default {REAL['users']} ({SMOKE['users']} smoke)")
    p.add_argument("--spawn-rate", type=float, help="users started per second (default: all)")
    p.add_argument(
        "--duration",
        help=f"locust --run-time (default {REAL['duration']}, {SMOKE['duration']} smoke)",
    )
    p.add_argument(
        "--thresholds",
        type=Path,
        help="YAML (default loadtests/thresholds.yaml, -smoke.yaml with --smoke)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "loadtest")
    p.add_argument("--url", help="test this running service instead of starting one")
    p.add_argument(
        "--api-key",
        default=os.environ.get("FIRSTPITCH_API_KEY"),
        help="with --url: the key to send (default $FIRSTPITCH_API_KEY; none if auth is off)",
    )
    p.add_argument(
        "--games-file",
        type=Path,
        help="with --url: JSON list of predictable game ids (or hit/miss/batch pools)",
    )
    p.add_argument(
        "--redis-url",
        help="with --url: the service's Redis, to empty the "
        "prediction cache first so misses are misses",
    )
    p.add_argument("--now", default=PINNED, help="pinned clock of the service started here")
    p.add_argument(
        "--check-only",
        action="store_true",
        help="run nothing: check the reports already in --out against --thresholds",
    )
    p.add_argument(
        "--wait", help="think time between a user's requests, 'min,max' seconds (default 0.05,0.25)"
    )
    args = p.parse_args(argv)
    mode = SMOKE if args.smoke else REAL
    args.users = args.users or mode["users"]
    args.spawn_rate = args.spawn_rate or float(args.users)
    args.duration = args.duration or mode["duration"]
    args.thresholds = args.thresholds or HERE / (
        "thresholds-smoke.yaml" if args.smoke else "thresholds.yaml"
    )
    if args.url and not args.games_file:
        p.error("--url needs --games-file")
    if args.url and urlsplit(args.url).hostname not in {"127.0.0.1", "localhost"}:
        p.error("load is only ever sent to this machine (http://127.0.0.1:PORT)")
    return args


def _on_sigterm(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, out: Path) -> int:
    load_thresholds(args.thresholds)  # fail before a long setup, not after
    if args.check_only:
        return verdict_report(out, args.thresholds)
    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}: {platform.machine()}, {os.cpu_count()} cores",
        "users": args.users,
        "spawn_rate": args.spawn_rate,
        "duration": args.duration,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    stack: contextlib.AbstractContextManager[Target]
    if args.url:
        pools = read_games_file(args.games_file)
        stack = contextlib.nullcontext(
            Target(args.url.rstrip("/"), args.redis_url, pools, args.api_key)
        )
    else:
        stack = own_stack(args.now, out)
    with stack as target:
        meta |= {"url": target.url, "pools": {k: len(v) for k, v in target.pools.items()}}
        if target.redis_url:
            print(
                f"  emptied the prediction cache ({flush_predictions(target.redis_url)} keys)",
                flush=True,
            )
        else:
            print("  no --redis-url: the prediction cache is not emptied", flush=True)
        warm(target)
        t0 = time.monotonic()
        run_locust(target.url, target.api_key, target.pools, out, args.users, args.spawn_rate,
                   args.duration, args.wait)  # fmt: skip
        meta["locust_wall_s"] = round(time.monotonic() - t0, 1)
    return verdict_report(out, args.thresholds, meta)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    out: Path = args.out.resolve()
    if not args.check_only:
        out.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, out)
    except (HarnessError, FileNotFoundError) as exc:
        print(f"load test harness failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; everything started here is stopped", file=sys.stderr)
        return 130
    except Exception:  # the harness broke (servers, data, files): not a latency verdict
        traceback.print_exc()
        print("load test harness failed (see above)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
