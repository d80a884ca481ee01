"""Benchmark: what naming the versions costs a model call, against the plain champion call,
in the same run (interleaved), for 1 and 50 rows:
- in the API process (``FIRSTPITCH_INFERENCE=local``): ``LocalModels.predict`` (the champions
  loaded at start) vs ``LocalModels.predict_for`` (by named versions, what a predictor calls);
- in the model service: ``predict_all`` vs ``with_versions`` + ``predict_versioned`` (rows
  carrying their versions, runners/versions.py).

Usage: .venv/bin/python loadtests/bench_versioned_predict.py [--calls 20000] [--json]
Two synthetic boosters shaped like the champions (85 features, 150 trees of 15 leaves),
one thread each, as served.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from firstpitch.serving.models import LocalModels
from loadtests.harness.reports import print_figures
from runners.champions import TARGET_ORDER, predict_all
from runners.fast_predict import FastBooster
from runners.versions import VersionedBoosters, predict_versioned, with_versions
from training.dataset import REGISTERED_NAMES


class _Loaded:
    def __init__(self, booster: lgb.Booster) -> None:
        self.fast = FastBooster(booster)


def boosters(work: Path) -> tuple[dict[str, Any], VersionedBoosters]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20000, 85))
    plain, versioned = {}, VersionedBoosters("sqlite:///unused.db", work)
    for i, target in enumerate(TARGET_ORDER):
        y = (x[:, i] + rng.normal(size=len(x)) > 0).astype(int)
        params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": i}
        booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=150)
        plain[target] = _Loaded(booster)
        versioned.put(REGISTERED_NAMES[target], "1", FastBooster(booster))
    return plain, versioned


def local_models(plain: dict[str, Any], versioned: VersionedBoosters) -> LocalModels:
    local = LocalModels.__new__(LocalModels)  # without loading champions from a store
    local.models, local.versions = plain, versioned  # type: ignore[assignment]
    return local


def calls_for(
    local: LocalModels, plain: dict[str, Any], versioned: VersionedBoosters, x: np.ndarray
) -> dict[str, Any]:
    async def service_plain() -> None:
        predict_all(plain, x)  # type: ignore[arg-type]

    async def service_versioned() -> None:
        predict_versioned(versioned, with_versions(x, ("1", "1")))

    return {
        "api_champions": lambda: local.predict(x),
        "api_by_versions": lambda: local.predict_for(x, ("1", "1")),
        "service_champions": service_plain,
        "service_versioned_rows": service_versioned,
    }


async def timed(call: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, versioned = boosters(Path(tmp))
    local = local_models(plain, versioned)
    out: dict[str, Any] = {"calls": args.calls}
    for rows in (1, 50):
        x = np.random.default_rng(rows).normal(size=(rows, 85))

        calls = calls_for(local, plain, versioned, x)
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _round in range(5):  # interleaved rounds: the machine's noise falls on all
            for name, call in calls.items():
                times[name].append(asyncio.run(timed(call, args.calls // 5)))
        med = {k: round(statistics.median(v), 2) for k, v in times.items()}
        out[f"rows_{rows}_us_per_call"] = med
        out[f"rows_{rows}_ratio"] = {
            "api": round(med["api_by_versions"] / med["api_champions"], 3),
            "service": round(med["service_versioned_rows"] / med["service_champions"], 3),
        }
    print_figures(out, args.json)


if __name__ == "__main__":
    main()
