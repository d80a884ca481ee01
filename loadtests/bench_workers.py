"""Benchmark: what a second API worker (``FIRSTPITCH_API_WORKERS=2``) buys on this machine,
against one, with the load generator on the same cores, measured in alternating slices so
that whatever else the machine does falls on both alike.

Both services run at once on the same database, Redis and models (each idle while the other
is measured), prediction cache off, models in process. Each round runs, on one side then on
the other (the order alternating every round), single-game predictions and then 50-game
batches, each at ``--connections`` for ``--slice`` seconds. Reported per scenario: each
side's median p50/p99 and req/s over the rounds, the p99 ratio of the medians (two workers
over one), every round's own ratio, and the req/s ratio of the medians.

Usage: .venv/bin/python loadtests/bench_workers.py [--rounds 6] [--slice 6]
       [--connections 8] [--json]
Uses the project's state (.state/: embedded servers, data, champions), as `make compare`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from loadtests.compare.prepare import prepare, say
from loadtests.compare.targets import firstpitch_target, start_ready
from loadtests.compare.workload import Workload, chunks, write_scripts
from loadtests.harness.processes import Processes
from loadtests.harness.reports import PROJECT_ROOT
from loadtests.harness.rounds import Peers, interleave, peer_report
from loadtests.harness.wrk import parse_wrk, run_wrk

SIDES = {"two": "2", "one": "1"}
SCENARIOS = ("single", "batch")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--slice", type=float, default=6.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = PROJECT_ROOT / ".state" / "peers" / "workers"
    procs = Processes()
    prep = prepare(work)
    load = Workload(single_games=prep.games[:200], batches=chunks(prep.games, 50))
    sides: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {"rounds": args.rounds, "slice_s": args.slice,
                              "connections": args.connections}  # fmt: skip
    try:
        for name, workers in SIDES.items():
            target = firstpitch_target(prep, "local", env={"FIRSTPITCH_API_WORKERS": workers})
            base = start_ready(
                target, procs, work / "logs" / f"workers-{name}.log", f"{workers} workers"
            )
            scripts = write_scripts(target, load, work / "lua" / name)
            sides[name] = {"base": base, "scripts": scripts}
            for scenario in SCENARIOS:  # warm-up: every worker has served both
                run_wrk(base, scripts[scenario], args.connections, 4, 10)
            say(f"{workers} API workers: ready at {base}")
        for scenario in SCENARIOS:

            def measure(name: str, scenario: str = scenario) -> Any:
                side = sides[name]
                script = side["scripts"][scenario]
                return parse_wrk(run_wrk(side["base"], script, args.connections, args.slice, 10))

            def said(r: int, peers: Peers, scenario: str = scenario) -> None:
                two, one = peers.samples["two"], peers.samples["one"]
                say(f"{scenario} round {r}: two workers {two['rps'][-1]:.0f} req/s p99 "
                    f"{two['p99'][-1]:.1f} ms, one {one['rps'][-1]:.0f} req/s p99 "
                    f"{one['p99'][-1]:.1f} ms")  # fmt: skip

            peers = interleave("two", "one", args.rounds, measure, said)
            rps = {n: statistics.median(peers.samples[n]["rps"]) for n in SIDES}
            report[scenario] = {**peer_report(peers, nd=2),
                                "rps_ratio_of_medians": round(rps["two"] / rps["one"], 3)}  # fmt: skip
    finally:
        procs.stop_all()
        prep.stack.stop_started()
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
