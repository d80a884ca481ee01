"""Odds arithmetic: American odds, implied probabilities and removing the vig.

Multiplicative: scale the implied probabilities to sum to 1.
Power: find k with sum(p_i ** k) = 1 (shrinks longshots more, a favourite-longshot fix).
Shin: the model of Shin (1993) with an insider share z, solved numerically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

METHODS = ("multiplicative", "power", "shin")


def implied(american: float) -> float:
    if -100 < american < 100:
        raise ValueError(f"{american} is not valid American odds")
    return 100 / (american + 100) if american > 0 else -american / (-american + 100)


def decimal_odds(american: float) -> float:
    return 1 + (american / 100 if american > 0 else 100 / -american)


def _bisect(f: object, lo: float, hi: float, iters: int = 80) -> float:
    func = f  # a monotone function on [lo, hi]
    for _ in range(iters):
        mid = (lo + hi) / 2
        if func(mid) > 0:  # type: ignore[operator]
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def devig(prices: Sequence[float], method: str = "multiplicative") -> list[float]:
    """Fair probabilities from a complete market's American prices."""
    raw = [implied(p) for p in prices]
    total = sum(raw)
    if method == "multiplicative":
        return [p / total for p in raw]
    if method == "power":
        k = _bisect(lambda k: 1 - sum(p**k for p in raw), 1e-6, 10.0)
        return [p**k for p in raw]
    if method == "shin":
        if total <= 1:
            return [p / total for p in raw]

        def shin_probs(z: float) -> list[float]:
            return [
                (math.sqrt(z * z + 4 * (1 - z) * p * p / total) - z) / (2 * (1 - z)) for p in raw
            ]

        z = _bisect(lambda z: 1 - sum(shin_probs(z)), 0.0, 0.5)
        probs = shin_probs(z)
        s = sum(probs)
        return [p / s for p in probs]
    raise ValueError(f"unknown de-vig method {method!r}; use one of {', '.join(METHODS)}")


def fair_first(first: float | None, second: float | None, method: str = "multiplicative"
               ) -> float | None:  # fmt: skip
    """The first side's de-vigged probability in a two-way market; None unless both prices
    are valid American odds."""
    if first is None or second is None:
        return None
    try:
        return devig([first, second], method)[0]
    except ValueError:
        return None
