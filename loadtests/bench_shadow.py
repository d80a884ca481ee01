"""Benchmark: what scoring a challenger in shadow adds to request latency, one challenger
against none, measured in alternating slices of one run so that whatever else the machine
does falls on both alike.

One service runs (as shipped, the prediction cache off so every request scores its game),
and the condition is switched under it between slices: the announced challenger set is
written to Redis with the challenger, or empty, as ``firstpitch promote --challenger`` and
its retirement would announce them, and the service follows within ``champion_poll_s``
(``SETTLE_S`` is waited, then a warm-up). The same process serves both sides: an earlier
design ran two services side by side, and with both leaving the challenger unscored (A/A)
the two differed by 6-7 % in p99 over 30 rounds, a bias of the process, not the condition.
The challenger is a second home-win version (trained here when the registry has none
besides the champion), aliased as a challenger, and retired at the end. Each round runs
single-game predictions at one connection for ``--slice`` seconds under one condition, then
the other, the order alternating. Reported: each side's median p50/p99 over the rounds, the
ratio of the medians, every round's own ratio, the shadow records logged and the requests
of the slices with the challenger (each of which scores one game: the two should match).

Usage: .venv/bin/python loadtests/bench_shadow.py [--rounds 8] [--slice 8]
       [--inference local|service] [--control] [--json]
``--control`` switches between two empty sets instead: what the design reports when the
two sides do the same work.
Uses the project's state (.state/: embedded servers, data, champions), as `make compare`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from loadtests.compare.prepare import Prepared, prepare, say
from loadtests.compare.targets import firstpitch_target, start_ready
from loadtests.compare.workload import Workload, write_scripts
from loadtests.harness.prediction_log import shadow_records
from loadtests.harness.processes import Processes
from loadtests.harness.reports import PROJECT_ROOT
from loadtests.harness.rounds import Peers, interleave, peer_report
from loadtests.harness.wrk import parse_wrk, run_wrk

HOME = "firstpitch-home-win"
SETTLE_S = 2.5  # champion_poll_s (1 s) twice, and a booster already loaded


def challenger_version(prep: Prepared) -> tuple[str, bool]:
    """A home-win version other than the champion (trained if there is none); whether it was
    a challenger already."""
    from mlflow import MlflowClient

    from storage import registry

    uri, artifacts = prep.settings.mlflow_uri, prep.settings.mlflow_artifacts
    registry._mlflow(uri, artifacts)
    champion = registry.champion_version(uri, artifacts, HOME)
    versions = [v.version for v in MlflowClient().search_model_versions(f"name = '{HOME}'")]
    others = sorted((str(v) for v in versions if str(v) != champion), key=int)
    current = registry.challenger_versions(uri, artifacts, HOME)
    if current:
        return current[-1], True
    from features.definitions import FEATURE_VERSION

    for version in reversed(others):
        if (
            registry.run_tags(uri, artifacts, HOME, version).get("feature_version")
            == FEATURE_VERSION
        ):
            return version, False
    from training.run import run_training

    say("training a second home-win version to challenge the champion")
    out = asyncio.run(run_training(
        prep.settings, prep.endpoints, "home_win", promote=False,
        grid={"num_leaves": [15], "min_data_in_leaf": [100]}, max_rounds=150,
    ))  # fmt: skip
    return str(out["model_version"]), False


def announce(prep: Prepared) -> Any:
    from firstpitch.cli_promote import announce_challengers

    s = prep.settings
    return asyncio.run(
        announce_challengers(prep.endpoints.redis_url, s.mlflow_uri, s.mlflow_artifacts)
    )


def write_state(prep: Prepared, info: dict[str, list[dict[str, Any]]]) -> None:
    """Announce ``info`` as the challenger set (what the service follows)."""
    from storage import challenger_state
    from storage import redis as redis_store

    async def write() -> None:
        client = await redis_store.connect(prep.endpoints.redis_url)
        try:
            await challenger_state.write(client, info)
        finally:
            await client.aclose()

    asyncio.run(write())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--slice", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--inference", choices=("local", "service"), default="local")
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A: switch between two empty challenger sets (the design's own spread)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # SIGTERM ends the run through its clean-up, so the challenger it announced is retired
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from storage import registry

    work = PROJECT_ROOT / ".state" / "peers" / "shadow"
    procs = Processes()
    prep = prepare(work)
    uri, artifacts = prep.settings.mlflow_uri, prep.settings.mlflow_artifacts
    version, was_challenger = challenger_version(prep)
    try:
        if not was_challenger:
            registry.set_challenger(uri, artifacts, HOME, version)
        announced = announce(prep)
        say(f"challenger: {HOME} version {version}; announced {announced}")
        empty: dict[str, list[dict[str, Any]]] = {target: [] for target in announced}
        states = {"one": empty if args.control else announced, "none": empty}
        load = Workload(single_games=prep.games[:200], batches=[prep.games[:50]])
        write_state(prep, states["one"])
        target = firstpitch_target(prep, args.inference)
        base = start_ready(target, procs, work / "logs" / "shadow.log", "shadow")
        script = write_scripts(target, load, work / "lua" / "shadow")["single"]
        time.sleep(SETTLE_S)  # the challenger is loaded
        before = asyncio.run(shadow_records(prep.endpoints.postgres_dsn))
        # every request under "one" scores one game by the challenger, warm-ups included
        requests = {"one": parse_wrk(run_wrk(base, script, 1, 5, 10)).requests, "none": 0}

        def measure(name: str) -> Any:
            write_state(prep, states[name])
            time.sleep(SETTLE_S)  # followed within champion_poll_s
            warm = parse_wrk(run_wrk(base, script, 1, 1, 10))  # under this condition
            result = parse_wrk(run_wrk(base, script, 1, args.slice, 10))
            requests[name] += warm.requests + result.requests
            return result

        def said(r: int, peers: Peers) -> None:
            one, none = peers.last_p99("one"), peers.last_p99("none")
            say(f"round {r}: p99 one challenger {one:.2f} ms, none {none:.2f} ms "
                f"(x{peers.ratios[-1]:.3f})")  # fmt: skip

        peers = interleave("one", "none", args.rounds, measure, said)
        time.sleep(1)
        logged = asyncio.run(shadow_records(prep.endpoints.postgres_dsn)) - before
    finally:
        procs.stop_all()
        if not was_challenger:
            registry.retire_challenger(uri, artifacts, HOME, version)
        announce(prep)  # the registry's own set again
        prep.stack.stop_started()
    report = {
        "inference": args.inference,
        "rounds": args.rounds,
        "slice_s": args.slice,
        "connections": 1,
        "control": args.control,
        "challenger": {"model": HOME, "version": version},
        **peer_report(peers, nd=3),
        "shadow_records_logged": logged,
        "requests_with_challenger": 0 if args.control else requests["one"],  # = logged
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
