"""Long fault soak: the fault scenarios of the test suite with every phase stretched.

Runs tests/faults/ (the prediction log's 60-s soak becomes 10 minutes) and the Postgres outage
of tests/e2e/test_logging.py with
``FIRSTPITCH_FAULT_SCALE`` (default 10: each load phase ten times as long as in CI) for
``--rounds`` rounds, each round on fresh embedded servers, real processes throughout; every
scenario prints one ``FAULT {json}`` line (requests, statuses, served and logged records,
timings), collected into ``reports/soak/summary.json``. Exits non-zero if any round failed or
missed a latency gate (``GATES``: the log soak's p99 at most 50 ms).

  .venv/bin/python loadtests/soak_faults.py [--scale 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from loadtests.harness import fault_lines
from loadtests.harness.reports import write_json

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/faults", "tests/e2e/test_logging.py::test_postgres_down_under_load_loses_nothing"]
# Latency gates of the long run (scenario: reported figure, limit), checked from FAULT lines.
GATES = {"log_soak": ("p99_ms", 50.0)}


def gates(scenarios: list[dict[str, object]]) -> list[str]:
    """The gated figures of a round that missed their limit (each as a line)."""
    missed = []
    for s in scenarios:
        gate = GATES.get(str(s["scenario"]))
        if gate is not None:
            figure, limit = gate
            value = float(s[figure])  # type: ignore[arg-type]
            if value > limit:
                missed.append(f"{s['scenario']}: {figure} {value:.1f} > {limit:g}")
    return missed


def run_round(scale: float, log: Path) -> tuple[int, list[dict[str, object]], float]:
    env = os.environ | {"FIRSTPITCH_FAULT_SCALE": str(scale)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
           "-o", "timeout=3600", *TESTS]  # fmt: skip
    started = time.monotonic()
    with log.open("w") as sink:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    return code, fault_lines.collect(log.read_text()), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "soak")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rounds = []
    for n in range(1, args.rounds + 1):
        log = args.out / f"round-{n}.log"
        print(f"round {n}/{args.rounds}: scale {args.scale} (log: {log})", flush=True)
        code, scenarios, wall = run_round(args.scale, log)
        missed = gates(scenarios)
        rounds.append({"round": n, "passed": code == 0 and not missed, "wall_s": round(wall, 1),
                       "gates_missed": missed, "scenarios": scenarios})  # fmt: skip
        for s in scenarios:
            print(f"  {s['scenario']}: {s['requests']} requests {s['statuses']}", flush=True)
        for line in missed:
            print(f"  gate missed: {line}", flush=True)
        print(f"  {'PASS' if code == 0 and not missed else 'FAIL'} in {wall:.0f} s", flush=True)
    summary = {"scale": args.scale, "rounds": rounds, "passed": all(r["passed"] for r in rounds)}
    write_json(args.out / "summary.json", summary, echo=False)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
