"""Benchmark: what prediction logging costs the request path, logging as shipped against
logging off (a benchmark-only setting), measured in alternating slices so that whatever else
the machine does falls on both alike.

Both services run at once (each idle while the other is measured); each round runs the
50-game batch scenario (8 connections) for ``--slice`` seconds on one, then on the other,
the order alternating every round. Reported: each side's median p50/p99 over the rounds, the
ratio of the medians, and every round's own ratio.

Usage: .venv/bin/python loadtests/bench_log_overhead.py [--rounds 8] [--slice 8] [--json]
Uses the project's state (.state/: embedded servers, data, champions), as `make compare`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "compare"))

from harness import chunks, parse_wrk
from run_compare import (
    PROJECT_ROOT,
    Processes,
    Workload,
    firstpitch_target,
    prepare,
    run_wrk,
    say,
    wait_ready,
    write_scripts,
)

from storage.embedded import free_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--slice", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = PROJECT_ROOT / ".state" / "peers" / "log-overhead"
    procs = Processes()
    prep = prepare(work)
    load = Workload(single_games=prep.games[:1], batches=chunks(prep.games, 50))
    sides: dict[str, dict[str, Any]] = {}
    try:
        for name, log in (("on", True), ("off", False)):
            target = firstpitch_target(prep, "local", log=log)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = target.start(procs, port, work / "logs" / f"log-{name}.log")
            if not wait_ready(base + target.ready_path, proc):
                raise RuntimeError(f"logging {name}: the service did not become ready")
            script = write_scripts(target, load, work / "lua")["batch"]
            sides[name] = {"base": base, "script": script, "p50": [], "p99": [], "rps": []}
            run_wrk(base, script, args.connections, 3, 10)  # warm-up
            say(f"logging {name}: ready at {base}")
        ratios = []
        for r in range(args.rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for name in order:
                side = sides[name]
                time.sleep(0.5)
                res = parse_wrk(run_wrk(side["base"], side["script"], args.connections,
                                        args.slice, 10))  # fmt: skip
                side["p50"].append(res.p50_ms)
                side["p99"].append(res.p99_ms)
                side["rps"].append(res.req_per_s)
            ratios.append(sides["on"]["p99"][-1] / sides["off"]["p99"][-1])
            say(f"round {r + 1}: p99 on {sides['on']['p99'][-1]:.1f} ms, off "
                f"{sides['off']['p99'][-1]:.1f} ms (x{ratios[-1]:.2f})")  # fmt: skip
    finally:
        procs.stop_all()
        for server in prep.started_embedded:
            server.stop()
    report = {
        "rounds": args.rounds,
        "slice_s": args.slice,
        "connections": args.connections,
        **{
            f"{name}_{stat}_median": round(statistics.median(side[stat]), 2)
            for name, side in sides.items()
            for stat in ("p50", "p99", "rps")
        },
        "p99_ratio_of_medians": round(
            statistics.median(sides["on"]["p99"]) / statistics.median(sides["off"]["p99"]), 3
        ),
        "p99_ratio_per_round": [round(x, 3) for x in ratios],
        "p99_ratio_median": round(statistics.median(ratios), 3),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
