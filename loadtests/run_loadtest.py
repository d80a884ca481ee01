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
import csv
import fnmatch
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCUSTFILE = HERE / "locustfile.py"
PINNED = "2021-10-04T12:00:00Z"
SEASON = 2021
HIT_COUNT = 20  # the warmed set: small enough for one batch request (the API's max is 50)
SMOKE = {"users": 7, "spawn_rate": 7.0, "duration": "8s"}  # one user per user class
REAL = {"users": 20, "spawn_rate": 20.0, "duration": "60s"}


class HarnessError(RuntimeError):
    """The load test could not run (service, data or locust); not a latency verdict."""


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


@contextlib.contextmanager
def fds_to(path: Path) -> Iterator[None]:
    """Point this process's stdout/stderr at ``path`` meanwhile (children inherit them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


async def _prepare(settings: Any, endpoints: Any, now: datetime) -> tuple[list[str], str]:
    """Bring the stack up; the predictable game ids, and an API key for the load (its rate
    limit far above what the load test sends: limits are not what is measured)."""
    from features.materialize import materialize
    from firstpitch.bootstrap import bring_up
    from storage import api_keys, postgres

    await bring_up(settings, endpoints, lambda msg: print(f"  {msg}", flush=True))
    count, elapsed = await materialize(settings, endpoints, on_date=None, season=SEASON)
    print(f"  materialized {count} feature vectors of {SEASON} in {elapsed:.1f} s", flush=True)
    conn = await postgres.connect(endpoints.postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT game_id FROM games WHERE season = $1 AND game_type = 'regular' "
            "AND game_date < $2 ORDER BY game_id",
            SEASON,
            now.astimezone(settings.tz).date(),
        )
        _, token = await api_keys.create(
            conn, "loadtest", ["predictions", "models"], rate_limit_per_minute=10**8
        )
    finally:
        await conn.close()
    return [r["game_id"] for r in rows], token


@contextlib.contextmanager
def own_stack(now: str, out: Path) -> Iterator[Target]:
    """Bring up servers, data, models and the service; stop whatever this started."""
    from firstpitch.runtime import configure_environment, resolve_endpoints
    from firstpitch.settings import Settings

    settings = Settings(now=now)  # type: ignore[arg-type]
    configure_environment(settings)  # before anything imports bentoml
    from firstpitch.serve import launch, stop, wait_ready
    from storage.embedded import embedded_servers, free_port

    configured = {
        "postgres": settings.postgres_dsn is not None,
        "redis": settings.redis_url is not None,
    }
    ours = [
        s
        for s in embedded_servers(settings.state_dir)
        if not configured[s.name] and not s.status().running
    ]
    proc: subprocess.Popen[bytes] | None = None
    try:
        print(f"bringing up the stack (state: {settings.state_dir}, now: {now})", flush=True)
        endpoints = resolve_endpoints(settings)
        assert settings.now is not None
        ids, token = asyncio.run(_prepare(settings, endpoints, settings.now))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = out / "service.log"
        with fds_to(log):
            # Limits count games, and the burst is what a key may ask for at once: the
            # loadtest key (10**8 a minute) must not be refused when batches arrive together.
            proc = launch(settings, endpoints, "127.0.0.1", port, FIRSTPITCH_NOW=now,
                          FIRSTPITCH_RATE_LIMIT_BURST="1000000")  # fmt: skip
        print(f"  service starting at {url} (log: {log})", flush=True)
        if not wait_ready(url, proc):
            raise HarnessError(f"the service did not become ready; see {log}")
        yield Target(url, endpoints.redis_url, split_pools(ids), token)
    finally:
        if proc is not None:
            stop(proc)
            print("  stopped the service", flush=True)
        for server in ours:
            server.stop()
            print(f"  stopped embedded {server.name}", flush=True)


def flush_predictions(redis_url: str) -> int:
    """Empty the prediction cache (``fp:pred:*``) so "miss" ids really miss."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="fp:pred:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        client.close()


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


# ---------------------------------------------------------------------------- locust
def run_locust(
    target: Target, out: Path, users: int, spawn_rate: float, duration: str, wait: str | None
) -> None:
    games = out / "games.json"
    games.write_text(json.dumps(target.pools))
    cache_report = out / "cache.json"
    cache_report.unlink(missing_ok=True)
    for stale in out.glob("locust_*.csv"):
        stale.unlink()
    env = os.environ | {
        "FIRSTPITCH_API_KEY": target.api_key or "",
        "FIRSTPITCH_LOADTEST_GAMES": str(games),
        "FIRSTPITCH_LOADTEST_CACHE_REPORT": str(cache_report),
    }
    if wait:
        env["FIRSTPITCH_LOADTEST_WAIT"] = wait
    cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--headless",
           "--host", target.url, "--users", str(users), "--spawn-rate", str(spawn_rate),
           "--run-time", duration, "--stop-timeout", "10", "--csv", str(out / "locust"),
           "--html", str(out / "locust.html"), "--only-summary"]  # fmt: skip
    log = out / "locust.log"
    print(
        f"running locust: {users} users, spawn rate {spawn_rate}/s, {duration} (log: {log})",
        flush=True,
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
        try:
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: let locust write its reports, then go
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    # locust exits 1 when a request failed; the verdict below reports those.
    if code not in (0, 1) or not (out / "locust_stats.csv").exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise HarnessError(f"locust exited {code} without reports:\n{tail}")


# ---------------------------------------------------------------------------- verdict
@dataclass
class Row:
    method: str
    name: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None
    rps: float


@dataclass
class Verdict:
    row: Row
    limits: dict[str, Any]
    cache: dict[str, int]
    breaches: list[str] = field(default_factory=list)


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:  # "N/A" when a row has no requests
        return None


def read_stats(path: Path) -> tuple[list[Row], Row]:
    rows, aggregated = [], None
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            row = Row(
                r["Type"],
                r["Name"],
                int(r["Request Count"]),
                int(r["Failure Count"]),
                _num(r["50%"]),
                _num(r["95%"]),
                _num(r["99%"]),
                float(r["Requests/s"]),
            )
            if r["Name"] == "Aggregated":
                aggregated = row
            else:
                rows.append(row)
    if aggregated is None:
        raise HarnessError(f"{path} has no Aggregated row")
    return rows, aggregated


def load_thresholds(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        raise HarnessError(f"{path}: expected a mapping with a 'scenarios' section")
    known = {"p50_ms", "p95_ms", "p99_ms", "max_failures", "min_requests", "min_rps", "cache"}
    for name, limits in [
        ("defaults", data.get("defaults") or {}),
        ("aggregate", data.get("aggregate") or {}),
        *data["scenarios"].items(),
    ]:
        unknown = set(limits or {}) - known
        if unknown:
            raise HarnessError(f"{path}: {name}: unknown keys {sorted(unknown)}")
    return data


def limits_for(name: str, thresholds: dict[str, Any]) -> dict[str, Any] | None:
    scenarios: dict[str, Any] = thresholds["scenarios"]
    if name in scenarios:
        own = scenarios[name]
    else:
        key = next((k for k in scenarios if fnmatch.fnmatchcase(name, k)), None)
        if key is None:
            return None
        own = scenarios[key]
    defaults: dict[str, Any] = thresholds.get("defaults") or {}
    return defaults | (own or {})


def check(row: Row, limits: dict[str, Any], cache: dict[str, int]) -> list[str]:
    """What of ``limits`` the row breaches (a row without requests: only min_requests)."""
    out = []
    if row.requests < limits.get("min_requests", 1):
        out.append(f"{row.requests} requests < {limits.get('min_requests', 1)}")
    if not row.requests:
        return out
    if row.failures > limits.get("max_failures", 0):
        out.append(f"{row.failures} failures > {limits.get('max_failures', 0)}")
    for key, value in (("p50_ms", row.p50), ("p95_ms", row.p95), ("p99_ms", row.p99)):
        if key in limits and (value is None or value > limits[key]):
            out.append(f"{key[:3]} {value} ms > {limits[key]} ms")
    if "min_rps" in limits and row.rps < limits["min_rps"]:
        out.append(f"{row.rps:.2f} req/s < {limits['min_rps']}")
    hits, misses = cache.get("hit", 0), cache.get("miss", 0)
    if limits.get("cache") == "miss" and (hits or not misses):
        out.append(
            f"expected cache misses only, {hits} of {hits + misses} were hits (miss "
            "pool used up, or cache not emptied: --redis-url, fewer users, shorter run)"
        )
    if limits.get("cache") == "hit" and (misses or not hits):
        out.append(f"expected cache hits only, {misses} of {hits + misses} were misses")
    return out


def evaluate(
    rows: list[Row], aggregated: Row, cache: dict[str, dict[str, int]], thresholds: dict[str, Any]
) -> list[Verdict]:
    verdicts = []
    for row in rows:
        counts = cache.get(row.name, {"hit": 0, "miss": 0})
        limits = limits_for(row.name, thresholds)
        if limits is None:
            verdicts.append(Verdict(row, {}, counts, [f"no threshold for {row.name!r}"]))
        else:
            verdicts.append(Verdict(row, limits, counts, check(row, limits, counts)))
    seen = {r.name for r in rows}
    for name in thresholds["scenarios"]:  # named scenarios that sent nothing (globs may not)
        if not any(c in name for c in "*?[") and name not in seen:
            missing = Row("", name, 0, 0, None, None, None, 0.0)
            limits = limits_for(name, thresholds) or {}
            counts = {"hit": 0, "miss": 0}
            verdicts.append(Verdict(missing, limits, counts, check(missing, limits, counts)))
    overall = (thresholds.get("defaults") or {}) | (thresholds.get("aggregate") or {})
    overall.pop("cache", None)
    verdicts.append(
        Verdict(aggregated, overall, {"hit": 0, "miss": 0}, check(aggregated, overall, {}))
    )
    return verdicts


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _limits_text(limits: dict[str, Any]) -> str:
    parts = [f"{k[:3]}<={limits[k]}" for k in ("p50_ms", "p95_ms", "p99_ms") if k in limits]
    if "min_rps" in limits:
        parts.append(f"rps>={limits['min_rps']}")
    parts.append(f"fail<={limits.get('max_failures', 0)}")
    if limits.get("cache"):
        parts.append(f"cache={limits['cache']}")
    return " ".join(parts)


def render(verdicts: list[Verdict]) -> str:
    head = (
        "scenario",
        "requests",
        "failures",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s",
        "cache hit/miss",
        "threshold",
        "verdict",
    )
    lines = [
        (
            v.row.name if v.row.name != "Aggregated" else "ALL (aggregated)",
            str(v.row.requests),
            str(v.row.failures),
            _ms(v.row.p50),
            _ms(v.row.p95),
            _ms(v.row.p99),
            f"{v.row.rps:.1f}",
            f"{v.cache['hit']}/{v.cache['miss']}",
            _limits_text(v.limits),
            "BREACH" if v.breaches else "PASS",
        )
        for v in verdicts
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    numeric = {1, 2, 3, 4, 5, 6, 7}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    table = [fmt(head), "  ".join("-" * w for w in widths), *map(fmt, lines)]
    for v in verdicts:
        table += [f"BREACH {v.row.name}: {b}" for b in v.breaches]
    return "\n".join(table)


def verdict_report(out: Path, thresholds_path: Path, meta: dict[str, Any] | None = None) -> int:
    rows, aggregated = read_stats(out / "locust_stats.csv")
    cache_file = out / "cache.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    verdicts = evaluate(rows, aggregated, cache, load_thresholds(thresholds_path))
    print()
    print(render(verdicts))
    failures = out / "locust_failures.csv"
    if failures.exists():
        with failures.open(newline="") as f:
            for r in list(csv.DictReader(f))[:10]:
                print(f"failure x{r['Occurrences']} {r['Method']} {r['Name']}: {r['Error']}")
    breached = [v for v in verdicts if v.breaches]
    if meta is not None:
        summary = meta | {
            "thresholds": str(thresholds_path),
            "passed": not breached,
            "scenarios": [asdict(v) for v in verdicts],
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"\n{'BREACH' if breached else 'PASS'}: {len(verdicts) - len(breached)} of "
        f"{len(verdicts)} checks passed; reports in {out}"
    )
    return 1 if breached else 0


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
        run_locust(target, out, args.users, args.spawn_rate, args.duration, args.wait)
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
