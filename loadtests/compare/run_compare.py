"""firstpitch vs Seldon MLServer vs ``mlflow models serve``: same load generator, one run.

Usage: .venv/bin/python loadtests/compare/run_compare.py [--duration 10] [--out reports/compare]

What is compared (every server on 127.0.0.1, a free port, started and stopped by this script):
  firstpitch  the FULL prediction path (Redis feature read, cutoff check, inference of both
              champions, betting, prediction logging), prediction cache OFF, in two
              configurations: inference=service (models in the batching BentoML model service,
              the default) and inference=local (boosters in the API process); also
              inference=local without prediction logging (a benchmark-only peer) and with
              the prediction cache ON (after a game's first request, every one is a hit).
  bentoml     BentoML's floor: an empty route of the same server (floor_service.py) at
              firstpitch's paths, answering a constant; and the ceiling: that floor plus
              both champions' model call and a response of firstpitch's shape
              (ceiling_service.py), above which no firstpitch on the machine goes.
  mlserver    MLServer 1.7.1 + mlserver-lightgbm serving the home-win champion booster
              (raw inference only), its defaults and its best configuration.
  mlflow      ``mlflow models serve`` of the same registered champion (raw inference only),
              its defaults and a tuned configuration (see MLFLOW_TUNED_*).
Scenarios (wrk -t1, keep-alive): single game at 1, 8 and 32 connections; 50 games at 8.
The same 2021 regular-season games are used for everyone: firstpitch gets their ids, the
peers get their feature vectors exactly as firstpitch reads them from Redis (NaN -> null).
Every server's answers are checked against the champion booster before it is measured
(the floor's constant only for its status).

MLServer runs from its own virtualenv, .state/peers/mlserver-venv (created on first use with
python3.11 and pip: mlserver==1.7.1, mlserver-lightgbm==1.7.1, uvloop<0.22). Generated Lua
scripts, the exported LightGBM text model, MLServer settings and every server's log go to
--work (default .state/peers/compare).

Writes <out>/compare.md and <out>/compare.json, prints the table and the target checks.
Exits 0 whether or not targets are met (a report, not a gate); 1 when nothing could be
measured, 130 when interrupted (after writing what was measured and stopping every process).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.compare import peers
from loadtests.compare.measure import run_target
from loadtests.compare.prepare import PINNED, SINGLE_GAMES, Prepared, prepare, say
from loadtests.compare.report import write_report
from loadtests.compare.table import Measurement
from loadtests.compare.targets import Target, firstpitch_target
from loadtests.compare.workload import SCENARIOS, Workload, chunks
from loadtests.harness.processes import Processes, ignore_interrupts, interrupts
from loadtests.harness.reports import PROJECT_ROOT, git_state, load_average


def all_targets(prep: Prepared, work: Path) -> list[Target]:
    """Run order: firstpitch, then each peer's tuned configuration, then its defaults."""
    return [
        firstpitch_target(prep, "service"),
        firstpitch_target(prep, "local"),
        firstpitch_target(prep, "local", log=False),
        firstpitch_target(prep, "local", cache=True),
        peers.floor_target(),
        peers.ceiling_target(prep, work),
        peers.mlserver_target(
            prep, work, "best", peers.MLSERVER_BEST_SERVER, {}, peers.MLSERVER_BEST_ENV
        ),
        peers.mlserver_target(prep, work, "default", {}, {}, {}),
        peers.mlflow_target(prep, "tuned", peers.MLFLOW_TUNED_ARGS, peers.MLFLOW_TUNED_ENV),
        peers.mlflow_target(prep, "default", [], {}),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "compare")
    parser.add_argument(
        "--work",
        type=Path,
        default=PROJECT_ROOT / ".state" / "peers" / "compare",
        help="generated Lua scripts, peer model files and server logs",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    parser.add_argument("--pause", type=float, default=1.0, help="idle seconds between runs")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=30.0,  # what firstpitch.serve.stop() gives `bentoml serve`
        help="seconds a server gets to exit after SIGTERM before its tree is SIGKILLed",
    )
    parser.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout seconds")
    parser.add_argument("--only", default="", help="comma list of target or target/config")
    parser.add_argument(
        "--scenario", action="append", default=[], help="scenario name(s) to run (default: all)"
    )
    args = parser.parse_args(argv)
    names = set(args.scenario)
    args.scenarios = [s for s in SCENARIOS if not names or s.name in names]
    return args


def _selected(target: Target, only: str) -> bool:
    if not only:
        return True
    picks = {p.strip() for p in only.split(",") if p.strip()}
    return target.target in picks or f"{target.target}/{target.config}" in picks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    out_dir: Path = args.out if args.out.is_absolute() else (Path.cwd() / args.out)
    procs = Processes()
    prep: Prepared | None = None
    rows: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    failures: list[str] = []
    interrupted = False
    load_start = load_average()
    started_at = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    with interrupts():
        try:
            prep = prepare(work)
            step = max(1, len(prep.games) // SINGLE_GAMES)
            load = Workload(
                single_games=prep.games[::step][:SINGLE_GAMES], batches=chunks(prep.games, 50)
            )
            say(
                f"workload: {len(load.single_games)} single games, {len(load.batches)} "
                f"batches of 50"
            )
            for target in all_targets(prep, work):
                if not _selected(target, args.only):
                    continue
                measured: list[Measurement] = []
                meta: dict[str, Any] = {}
                metas.append(meta)
                try:
                    run_target(target, procs, prep, load, args, work, measured, meta)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    failures.append(f"{target.target}/{target.config}: {exc}")
                    say(f"FAILED {target.target}/{target.config}: {exc}")
                    meta.update(
                        {
                            "target": target.target,
                            "config": target.config,
                            "settings": target.settings,
                            "error": str(exc),
                        }
                    )
                finally:
                    rows.extend(m.as_dict() for m in measured)
        except KeyboardInterrupt as exc:
            interrupted = True
            failures.append(f"interrupted: {exc}")
            say(f"interrupted ({exc}); cleaning up")
        finally:
            ignore_interrupts()
            procs.stop_all()
            if prep is not None:
                prep.stack.stop_started(say)
    header = {
        "started_at": started_at,
        "finished_at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "duration_s": args.duration,
        "pinned_now": PINNED,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "wrk": "wrk -t1 -c<N> -d<duration>s --latency --timeout "
        f"{args.wrk_timeout}s -s <generated.lua> <url> -- <N>",
        "champion": prep.champion if prep else None,
        "git": git_state(),
    }
    if not rows:
        say("nothing was measured")
        write_report(out_dir, rows, metas, header, failures)
        return 130 if interrupted else 1
    summary = write_report(out_dir, rows, metas, header, failures)
    print()
    print(summary)
    print(f"\nwrote {out_dir / 'compare.md'} and {out_dir / 'compare.json'}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
