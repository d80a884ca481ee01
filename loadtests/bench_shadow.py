"""Benchmark: what scoring a challenger in shadow adds to request latency, one challenger
against none, measured side by side in one run in alternating slices so that whatever else
the machine does falls on both alike.

Two services run at once on the same database, Redis and model store (each idle while the
other is measured), with the prediction cache off so every request scores its game: one
scores the announced challenger beside the champions (as shipped), the other leaves it
unscored (``FIRSTPITCH_SHADOW_SCORING=false``, a benchmark-only setting). The challenger is a
second home-win version (trained here when the registry has none besides the champion),
aliased and announced as ``firstpitch promote --challenger`` does, and retired at the end.
Each round runs single-game predictions at one connection for ``--slice`` seconds on one
side, then on the other, the order alternating. Reported: each side's median p50/p99 over
the rounds, the ratio of the medians, every round's own ratio, and the shadow records the
challenger side logged.

Usage: .venv/bin/python loadtests/bench_shadow.py [--rounds 8] [--slice 8]
       [--inference local|service] [--json]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--slice", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--inference", choices=("local", "service"), default="local")
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
        load = Workload(single_games=prep.games[:200], batches=[prep.games[:50]])
        sides: dict[str, dict[str, Any]] = {}

        def measure(name: str) -> Any:
            side = sides[name]
            return parse_wrk(run_wrk(side["base"], side["script"], 1, args.slice, 10))

        def said(r: int, peers: Peers) -> None:
            one, none = peers.last_p99("one"), peers.last_p99("none")
            say(f"round {r}: p99 one challenger {one:.2f} ms, none {none:.2f} ms "
                f"(x{peers.ratios[-1]:.3f})")  # fmt: skip

        for name, scoring in (("one", True), ("none", False)):
            scoring_env = {"FIRSTPITCH_SHADOW_SCORING": "true" if scoring else "false"}
            target = firstpitch_target(prep, args.inference, env=scoring_env)
            base = start_ready(
                target, procs, work / "logs" / f"shadow-{name}.log", f"{name} challenger"
            )
            script = write_scripts(target, load, work / "lua" / name)["single"]
            sides[name] = {"base": base, "script": script}
            time.sleep(3)  # a poll of the announced sets: the challenger is loaded
            run_wrk(base, script, 1, 5, 10)  # warm-up
            say(f"{name} challenger: ready at {base}")
        before = asyncio.run(shadow_records(prep.endpoints.postgres_dsn))
        peers = interleave("one", "none", args.rounds, measure, said)
        time.sleep(1)
        logged = asyncio.run(shadow_records(prep.endpoints.postgres_dsn)) - before
    finally:
        procs.stop_all()
        if not was_challenger:
            registry.retire_challenger(uri, artifacts, HOME, version)
            announce(prep)
        prep.stack.stop_started()
    report = {
        "inference": args.inference,
        "rounds": args.rounds,
        "slice_s": args.slice,
        "connections": 1,
        "challenger": {"model": HOME, "version": version},
        **peer_report(peers, nd=3),
        "shadow_records_logged": logged,
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
