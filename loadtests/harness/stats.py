"""Percentile summaries of latency samples, in the shapes the reports print (``n``,
``p50_ms``, ``p99_ms``, ...; numpy's linear percentiles)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles_ms(
    ms: Sequence[float], quantiles: Sequence[int] = (50, 99), nd: int = 2, count: bool = True
) -> dict[str, float]:
    """``{"n": .., "p50_ms": .., "p99_ms": ..}`` of latencies in milliseconds (``count``:
    with ``n``; ``nd``: decimals)."""
    arr = np.asarray(ms, dtype=np.float64)
    out: dict[str, float] = {"n": len(ms)} if count else {}
    for q in quantiles:
        out[f"p{q}_ms"] = round(float(np.percentile(arr, q)), nd)
    return out


def with_max(ms: Sequence[float]) -> dict[str, float]:
    """``n``, p50, p99 and the slowest, in milliseconds."""
    return percentiles_ms(ms) | {"max_ms": round(float(np.max(np.asarray(ms))), 2)}


def throughput(samples_s: Sequence[float], wall_s: float, rows: int) -> dict[str, float]:
    """Sequential requests' latencies (seconds) over ``wall_s``: percentiles and mean in
    milliseconds, requests and rows (games) per second."""
    arr = np.asarray(samples_s, dtype=np.float64) * 1000
    return percentiles_ms(arr.tolist()) | {
        "mean_ms": round(float(arr.mean()), 2),
        "req_per_s": round(len(samples_s) / wall_s, 1),
        "rows_per_s": round(rows / wall_s, 1),
    }
