"""Benchmark: what prediction logging costs the request path, logging as shipped against
logging off (a benchmark-only setting), measured in alternating slices so that whatever else
the machine does falls on both alike.

Both services run at once (each idle while the other is measured); each round runs the
50-game batch scenario (8 connections) for ``--slice`` seconds on one, then on the other,
the order alternating every round. Reported: each side's median p50/p99 over the rounds, the
ratio of the medians, and every round's own ratio; and where the CPU went: each side's
CPU milliseconds per request in its own service (API worker and all), in PostgreSQL (shared:
what it did during that side's slices) and on the whole machine (``/proc/stat``), medians over
the rounds. At saturation a closed loop's latency follows the machine's CPU per request.

Usage: .venv/bin/python loadtests/bench_log_overhead.py [--rounds 8] [--slice 8] [--json]
       [--writer process|in-process]
       [--against off|in-process]
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
from loadtests.harness.cpu import cpu_delta, machine_cpu, server_pid, tree_cpu
from loadtests.harness.processes import Processes
from loadtests.harness.reports import PROJECT_ROOT
from loadtests.harness.rounds import Peers, interleave, peer_report
from loadtests.harness.wrk import parse_wrk, run_wrk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--slice", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--writer",
        choices=("process", "in-process"),
        default="process",
        help="the logging side's records: by the writer process (as shipped) or the worker",
    )
    parser.add_argument(
        "--against",
        choices=("off", "in-process"),
        default="off",
        help="the peer: logging off, or logging by the worker itself (the writer's worth)",
    )
    args = parser.parse_args()
    work = PROJECT_ROOT / ".state" / "peers" / "log-overhead"
    procs = Processes()
    prep = prepare(work)
    load = Workload(single_games=prep.games[:1], batches=chunks(prep.games, 50))
    sides: dict[str, dict[str, Any]] = {}
    cpu: dict[str, dict[str, list[float]]] = {}
    postgres = server_pid(prep.stack.settings.state_dir, "postgres")

    def measure(name: str) -> Any:
        side = sides[name]
        roots = {"service": side["pid"], "postgres": postgres}
        before = {k: tree_cpu(pid) for k, pid in roots.items() if pid}
        machine = machine_cpu()
        res = parse_wrk(run_wrk(side["base"], side["script"], args.connections, args.slice, 10))
        per = 1000 / max(res.requests, 1)  # CPU seconds -> ms a request
        spent = {k: cpu_delta(b, tree_cpu(roots[k])) * per for k, b in before.items()}
        spent["machine"] = (machine_cpu() - machine) * per
        for key, ms in spent.items():
            cpu.setdefault(name, {}).setdefault(key, []).append(ms)
        return res

    def said(r: int, peers: Peers) -> None:
        on, off = peers.last_p99("on"), peers.last_p99(args.against)
        say(f"round {r}: p99 on {on:.1f} ms, {args.against} {off:.1f} ms "
            f"(x{peers.ratios[-1]:.2f})")  # fmt: skip

    try:
        peer = args.against
        for name, log in (("on", True), (peer, peer != "off")):
            by_process = args.writer == "process" and name == "on"
            writer = {"FIRSTPITCH_LOG_WRITER_PROCESS": str(by_process).lower()}
            target = firstpitch_target(prep, "local", log=log, env=writer)
            base = start_ready(target, procs, work / "logs" / f"log-{name}.log", f"logging {name}")
            script = write_scripts(target, load, work / "lua")["batch"]
            sides[name] = {"base": base, "script": script, "pid": procs.procs[-1].pid}
            run_wrk(base, script, args.connections, 3, 10)  # warm-up
            say(f"logging {name}: ready at {base}")
        peers = interleave("on", peer, args.rounds, measure, said)
    finally:
        procs.stop_all()
        prep.stack.stop_started()
    report = {
        "rounds": args.rounds,
        "slice_s": args.slice,
        "connections": args.connections,
        "writer": args.writer,
        "against": args.against,
        **peer_report(peers, nd=2),
        "cpu_ms_per_request_median": {
            name: {k: round(statistics.median(v), 3) for k, v in keys.items()}
            for name, keys in cpu.items()
        },
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
