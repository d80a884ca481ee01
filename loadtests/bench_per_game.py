"""Benchmark: what each step of a 50-game batch costs per game in the API worker, on the
vectors the service reads (the pinned season's, from the project's Redis): decoding a stored
vector (first read, and again: the worker keeps decoded vectors, features/store.py), a
game's answer (``shaping.entry``) and its betting recommendations, the log record
(``shaping.record``, what a request's records share built once) and its COPY line.

Each figure is the best of ``--repeat`` timings of the whole batch, divided by its games:
the floor of the step's cost, without the machine's scheduling noise. ``entry`` is on a\nvector read before (its bytes, hash and times worked out already, as a kept vector has them).

Usage: .venv/bin/python loadtests/bench_per_game.py [--repeat 7] [--json]
Uses the project's state (.state/: embedded servers, data, champions), as `make compare`.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import redis

from features import store
from features.definitions import FEATURE_VERSION
from firstpitch.serving import betting, shaping
from loadtests.compare.prepare import prepare
from loadtests.harness.reports import PROJECT_ROOT
from storage.log_records import encode

GAMES = 50
NUMBER = 40  # batches a timing


class _Served:
    """The served models as a record names them (versions only)."""

    info: ClassVar[dict[str, dict[str, str]]] = {
        "home_win": {"version": "2"},
        "total_over": {"version": "1"},
    }

    def target_of(self, name: str) -> str:
        return "home_win"


def per_game(step: Callable[[], Any], repeat: int, number: int = NUMBER) -> float:
    """µs a game: the best of ``repeat`` timings of ``number`` batches."""
    return min(timeit.repeat(step, number=number, repeat=repeat)) / number / GAMES * 1e6


def decoding(raws: list[bytes], repeat: int) -> dict[str, float]:
    decoded = store.Decoded()
    for raw in raws:
        decoded(raw)

    def decode_first() -> None:
        for r in raws:
            store.decode(r)

    # as Redis returns them: new bytes objects each read (hashed afresh), the same contents
    batches = iter([[bytes(bytearray(r)) for r in raws] for _ in range(NUMBER * repeat)])

    def decode_again() -> None:
        for r in next(batches):
            decoded(r)

    return {"decode_first_us": per_game(decode_first, repeat),
            "decode_again_us": per_game(decode_again, repeat)}  # fmt: skip


def measure(raws: list[bytes], repeat: int) -> dict[str, float]:
    vectors = [store.decode(r) for r in raws]
    probs = np.array([0.5588, 0.4912])
    now, policy = datetime.now(UTC), betting.BettingPolicy()
    entries = [shaping.entry(v, probs, None, now, policy) for v in vectors]
    served: Any = _Served()
    base = shaping.record_base(served, policy.settings(), "firstpitch-home-win", "batch", "r", now)
    records = [shaping.record(base, e, False, 1.0) for e in entries]

    def answers() -> None:
        for v in vectors:
            shaping.entry(v, probs, None, now, policy)

    def recommendations() -> None:
        for e in entries:
            p_home, p_over = e["home_ml_probability"], e["total_over_probability"]
            betting.recommendations(p_home, p_over, e["odds_used"], policy)

    def records_of_batch() -> None:
        b = shaping.record_base(served, policy.settings(), "firstpitch-home-win", "batch", "r", now)
        for e in entries:
            shaping.record(b, e, False, 1.0)

    def copy_lines() -> None:
        for r in records:
            encode(r, with_vector=False)

    steps = {"entry": answers,
             "recommendations": recommendations, "record": records_of_batch,
             "copy_line": copy_lines}  # fmt: skip
    return {f"{name}_us": per_game(step, repeat) for name, step in steps.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    prep = prepare(PROJECT_ROOT / ".state" / "peers" / "per-game")
    try:
        client = redis.Redis.from_url(prep.endpoints.redis_url)
        found: list[Any] = client.mget([store.key(FEATURE_VERSION, g) for g in prep.games[:GAMES]])
        raws = [bytes(r) for r in found if r is not None]
        if len(raws) < GAMES:
            raise RuntimeError(f"only {len(raws)} of {GAMES} vectors are in Redis")
        figures = {
            k: round(v, 2)
            for k, v in (decoding(raws, args.repeat) | measure(raws, args.repeat)).items()
        }
    finally:
        prep.stack.stop_started()
    report = {"games": GAMES, "repeat": args.repeat, **figures}
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
