"""Interleaved peer rounds: two configurations running at once, each measured in turn for a
slice, the order alternating every round, so whatever else the machine does falls on both
alike; the report gives each side's medians and the ratio of the first to the second."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtests.harness.wrk import WrkResult

STATS = ("p50", "p99", "rps")


@dataclass
class Peers:
    """The two sides' samples (``p50``/``p99`` ms and ``rps`` per round) and each round's
    p99 ratio, first over second."""

    first: str
    second: str
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)

    def last_p99(self, name: str) -> float:
        return self.samples[name]["p99"][-1]


def interleave(
    first: str,
    second: str,
    rounds: int,
    measure: Callable[[str], WrkResult],
    on_round: Callable[[int, Peers], None],
    pause: float = 0.5,
) -> Peers:
    """``rounds`` rounds of ``measure(side)`` on both sides (first-second, then
    second-first, ...), ``pause`` idle seconds before each slice."""
    peers = Peers(first, second, {n: {s: [] for s in STATS} for n in (first, second)})
    for r in range(rounds):
        for name in (first, second) if r % 2 == 0 else (second, first):
            time.sleep(pause)
            res = measure(name)
            side = peers.samples[name]
            side["p50"].append(res.p50_ms)
            side["p99"].append(res.p99_ms)
            side["rps"].append(res.req_per_s)
        peers.ratios.append(peers.last_p99(first) / peers.last_p99(second))
        on_round(r + 1, peers)
    return peers


def peer_report(peers: Peers, nd: int = 2) -> dict[str, Any]:
    """``<side>_<stat>_median`` for both sides, the p99 ratio of the medians, every round's
    ratio and their median."""
    median = statistics.median
    a, b = peers.samples[peers.first], peers.samples[peers.second]
    return {
        **{
            f"{name}_{stat}_median": round(median(side[stat]), nd)
            for name, side in peers.samples.items()
            for stat in STATS
        },
        "p99_ratio_of_medians": round(median(a["p99"]) / median(b["p99"]), 3),
        "p99_ratio_per_round": [round(x, 3) for x in peers.ratios],
        "p99_ratio_median": round(median(peers.ratios), 3),
    }
