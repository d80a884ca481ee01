"""Benchmark: what background work of a given size costs the request path on this machine,
whatever its priority: the 50-game batch scenario (8 connections) against one service with
logging off, measured in alternating slices with and without a burner beside it
(``harness/burner.py``: busy ``--share`` of a core at ``SCHED_IDLE`` or nice 19).

It is the floor for ``bench_log_overhead.py``: logging has to run somewhere, and what its
writer and PostgreSQL spend (that benchmark reports it, per request) is background work of
this kind. Reported like that benchmark: each side's medians, the p99 ratio of the medians
and per round, and the CPU the burner actually used (cores, median over its slices).

Usage: .venv/bin/python loadtests/bench_background_floor.py [--rounds 5] [--slice 8]
       [--share 0.5] [--kind mem|alu] [--policy idle|nice] [--json]
Uses the project's state (.state/: embedded servers, data, champions), as `make compare`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from loadtests.compare.prepare import prepare, say
from loadtests.compare.targets import firstpitch_target, start_ready
from loadtests.compare.workload import Workload, chunks, write_scripts
from loadtests.harness.cpu import cpu_delta, tree_cpu
from loadtests.harness.processes import Processes, base_env
from loadtests.harness.reports import PROJECT_ROOT
from loadtests.harness.rounds import Peers, interleave, peer_report
from loadtests.harness.wrk import WrkResult, parse_wrk, run_wrk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slice", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--share", type=float, default=0.5, help="the burner's share of a core")
    parser.add_argument("--kind", choices=("mem", "alu"), default="mem")
    parser.add_argument("--policy", choices=("idle", "nice"), default="idle")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = PROJECT_ROOT / ".state" / "peers" / "log-overhead"
    procs = Processes()
    prep = prepare(work)
    load = Workload(single_games=prep.games[:1], batches=chunks(prep.games, 50))
    burner_cmd = [sys.executable, "-m", "loadtests.harness.burner", "--share", str(args.share),
                  "--kind", args.kind, "--policy", args.policy]  # fmt: skip
    cores: list[float] = []

    def measure(name: str) -> WrkResult:
        if name == "quiet":
            return parse_wrk(run_wrk(base, script, args.connections, args.slice, 10))
        burner = procs.start(burner_cmd, base_env(), work / "logs" / "burner.log", PROJECT_ROOT)
        try:
            time.sleep(0.3)
            before, t0 = tree_cpu(burner.pid), time.monotonic()
            res = parse_wrk(run_wrk(base, script, args.connections, args.slice, 10))
            cores.append(cpu_delta(before, tree_cpu(burner.pid)) / (time.monotonic() - t0))
        finally:
            procs.stop(burner, grace=1.0)
        return res

    def said(r: int, peers: Peers) -> None:
        say(f"round {r}: p99 with the burner {peers.last_p99('burner'):.1f} ms, without "
            f"{peers.last_p99('quiet'):.1f} ms (x{peers.ratios[-1]:.2f})")  # fmt: skip

    try:
        target = firstpitch_target(prep, "local", log=False)
        base = start_ready(target, procs, work / "logs" / "floor.log", "logging off")
        script = write_scripts(target, load, work / "lua")["batch"]
        run_wrk(base, script, args.connections, 3, 10)  # warm-up
        peers = interleave("burner", "quiet", args.rounds, measure, said)
    finally:
        procs.stop_all()
        prep.stack.stop_started()
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "slice_s": args.slice,
        "connections": args.connections,
        "burner": {
            "share": args.share,
            "kind": args.kind,
            "policy": args.policy,
            "cores_used_median": round(statistics.median(cores), 3),
        },
        **peer_report(peers, nd=2),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
