"""Measuring one server: start it, check its answers against the champion, warm it up, run
every scenario with wrk while its process tree's CPU is sampled, stop it, and count what the
firstpitch service logged."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.compare.prepare import Prepared, say
from loadtests.compare.table import Measurement
from loadtests.compare.targets import Target
from loadtests.compare.workload import Workload, write_scripts
from loadtests.harness.cpu import cpu_delta, tree_cpu
from loadtests.harness.prediction_log import rows_of_request
from loadtests.harness.processes import Processes
from loadtests.harness.wrk import parse_wrk, run_wrk


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


def verify(target: Target, base: str, prep: Prepared, games: list[str]) -> dict[str, Any]:
    """One batch request of real games: every answer must equal the champion's own output."""
    expected = prep.booster.predict(np.array(prep.rows(games), dtype=np.float64))
    status, raw = http(base + target.path_batch, target.body_batch(games), headers=target.headers)
    if status != 200:
        raise RuntimeError(f"{target.target}/{target.config} answered {status}: {raw[:300]!r}")
    if not target.checked:  # a constant answer: only that it answers
        return {"rows": len(games), "checked": False, "response_bytes_batch": len(raw)}
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
        "nan_features_in_check": int(np.isnan(np.array(prep.rows(games))).sum()),
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
                rid = target.headers["X-Request-ID"]
                logged: int | str = asyncio.run(rows_of_request(prep.endpoints.postgres_dsn, rid))
            except Exception as exc:  # a report line, never a reason to fail the run
                logged = f"could not count: {exc}"
            meta["prediction_log"] = {
                "request_id": target.headers["X-Request-ID"],
                "served_rows": served_rows,
                "logged_rows": logged,
            }
            say(f"prediction log: {meta['prediction_log']}")
