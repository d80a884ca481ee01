"""locust as the load driver, always in a process of its own: importing locust after ``ssl``
or bentoml fails (gevent's monkey-patching recurses), so this module never imports it, and
loadtests/locustfile.py imports nothing of the project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from loadtests.harness.reports import PROJECT_ROOT

LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"


class HarnessError(RuntimeError):
    """The load test could not run (service, data or locust); not a latency verdict."""


def run_locust(
    url: str,
    api_key: str | None,
    pools: dict[str, list[str]],
    out: Path,
    users: int,
    spawn_rate: float,
    duration: str,
    wait: str | None,
) -> None:
    """locust -f loadtests/locustfile.py headless against ``url`` (its reports in ``out``:
    locust_*.csv, locust.html, cache.json; its output in locust.log); stopped with SIGTERM
    when this process is interrupted, so it still writes them."""
    games = out / "games.json"
    games.write_text(json.dumps(pools))
    cache_report = out / "cache.json"
    cache_report.unlink(missing_ok=True)
    for stale in out.glob("locust_*.csv"):
        stale.unlink()
    env = os.environ | {
        "FIRSTPITCH_API_KEY": api_key or "",
        "FIRSTPITCH_LOADTEST_GAMES": str(games),
        "FIRSTPITCH_LOADTEST_CACHE_REPORT": str(cache_report),
    }
    if wait:
        env["FIRSTPITCH_LOADTEST_WAIT"] = wait
    cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--headless",
           "--host", url, "--users", str(users), "--spawn-rate", str(spawn_rate),
           "--run-time", duration, "--stop-timeout", "10", "--csv", str(out / "locust"),
           "--html", str(out / "locust.html"), "--only-summary"]  # fmt: skip
    log = out / "locust.log"
    print(
        f"running locust: {users} users, spawn rate {spawn_rate}/s, {duration} (log: {log})",
        flush=True,
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
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
