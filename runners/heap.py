"""Keeping garbage collection off the request path.

A worker imports heavy libraries (MLflow, pandas, Polars, LightGBM, BentoML): ~290k
long-lived objects. Every full (generation 2) collection walked them all and stalled the
event loop 150-300 ms about once a second under load — the p99 cliff seen with wrk.
Measured with a gc callback in the worker: gen-2 pauses of 18-166 ms at 900 req/s.

So: freeze the heap once start-up is done (frozen objects are never scanned), freeze again
once serving is warm (the predictor, route caches, lazily imported modules), and collect
the young generations less often. Request garbage is freed by reference counting anyway.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 100)


def freeze() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
