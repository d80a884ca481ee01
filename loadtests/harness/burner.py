"""A background CPU load of a chosen size, for benchmarks that ask what work elsewhere on the
machine costs the request path: busy for ``share`` of every 2-ms period, idle the rest, at
the lowest CPU priority Linux has (``SCHED_IDLE``: it runs only where nothing else wants the
core, and yields the moment something does) or at nice 19. ``mem`` copies 8-MB arrays (past
the L2 cache, as PostgreSQL's and the log writer's work does); ``alu`` only counts.

Usage: python -m loadtests.harness.burner --share 0.5 [--kind mem|alu] [--policy idle|nice]
It runs until it is killed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

PERIOD_S = 0.002


def lower(policy: str) -> None:
    if policy == "idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)


def burn(share: float, kind: str) -> None:
    src = np.ones(1 << 20)
    dst = np.empty_like(src)
    busy, rest = PERIOD_S * share, PERIOD_S * (1 - share)
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            if kind == "mem":
                np.copyto(dst, src)
            else:
                total = 0
                for i in range(2000):
                    total += i
        if rest > 0:
            time.sleep(rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.5, help="of one core, 0-1")
    parser.add_argument("--kind", choices=("mem", "alu"), default="mem")
    parser.add_argument("--policy", choices=("idle", "nice"), default="idle")
    args = parser.parse_args()
    lower(args.policy)
    burn(min(1.0, max(0.0, args.share)), args.kind)


if __name__ == "__main__":
    main()
