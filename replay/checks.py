"""What a finished replay must show, each checked against an independent computation:

- every replayed game has the prediction the replay asked for at its cutoff, and that
  prediction's feature vector (its ``feature_hash`` in the log) is the one the training
  pipeline computes afterwards from the stored history, bit for bit;
- the performance endpoint's log loss, Brier, ROI and closing-line value for the replayed
  dates equal a recomputation from the log (``replay/recompute.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from datetime import date, datetime
from typing import Any

import httpx
import numpy as np

from features.definitions import FEATURE_NAMES
from features.online import compute_frame
from replay.driver import REQUEST_PREFIX
from replay.recompute import recompute
from storage.postgres import Conn

FIGURES = ("log_loss", "brier", "roi", "closing_line_value")
# What a record may take to reach PostgreSQL after its answer (flush interval, one COPY).
LOG_FLUSH_S = 10.0
TYPES = {"moneyline": "firstpitch-home-win", "total": "firstpitch-total-over"}


def _hash(values: np.ndarray[Any, Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


async def cutoff_vectors(
    conn: Conn, games: set[str], cutoff_minutes: int, flush_s: float = LOG_FLUSH_S
) -> dict[str, Any]:
    """Games without a cutoff prediction, and those whose vector differs from the offline
    frame's (both empty when all is well). The log is written off the request path: records
    of the last predictions may land a moment after their answers, so a game counts as
    missing only once ``flush_s`` has passed without its record."""
    deadline = time.monotonic() + flush_s
    while True:
        rows = await conn.fetch(
            "SELECT DISTINCT game_id, feature_hash FROM prediction_log "
            "WHERE request_id LIKE $1 AND game_id = ANY($2)",
            f"{REQUEST_PREFIX}-%",
            sorted(games),
        )
        if {r["game_id"] for r in rows} >= games or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    logged: dict[str, set[str]] = {}
    for r in rows:
        logged.setdefault(r["game_id"], set()).add(r["feature_hash"])
    seasons = {int(g[3:7]) for g in games}
    frame, _ = await compute_frame(conn, cutoff_minutes=cutoff_minutes, seasons=seasons)
    frame = frame.filter(frame["game_id"].is_in(sorted(games)))
    values = frame.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    offline = {g: _hash(values[i]) for i, g in enumerate(frame["game_id"].to_list())}
    differ = sorted(g for g, h in logged.items() if h != {offline.get(g)})
    offline_rows = {g: values[i] for i, g in enumerate(frame["game_id"].to_list()) if g in differ}
    return {
        "games": len(games),
        "predicted_at_cutoff": len(logged),
        "missing": sorted(games - logged.keys()),
        "differ": differ,
        "offline_rows": offline_rows,  # for naming what differs (not reported as such)
    }


def differing_features(live: np.ndarray[Any, Any], offline: np.ndarray[Any, Any]) -> list[str]:
    """The names whose values differ (NaN equals NaN)."""
    return [
        name
        for name, a, b in zip(FEATURE_NAMES, live, offline, strict=True)
        if not (a == b or (math.isnan(a) and math.isnan(b)))
    ]


async def performance(
    http: httpx.AsyncClient, conn: Conn, first: date, last: date, now: datetime
) -> dict[str, Any]:
    """Per prediction type: the endpoint's figures, the recomputation's, and which differ."""
    out: dict[str, Any] = {}
    for ptype, model in TYPES.items():
        resp = await http.get(
            f"/api/v1/models/{model}/performance",
            params={"prediction_type": ptype, "date_from": first.isoformat(),
                    "date_to": last.isoformat()},
        )  # fmt: skip
        resp.raise_for_status()
        served = resp.json()
        independent = (await recompute(conn, ptype, now, date_from=first, date_to=last)).get(
            served["model_version"], {}
        )
        out[ptype] = {
            "served": {k: served.get(k) for k in (*FIGURES, "resolved", "bets", "clv_bets")},
            "recomputed": {
                k: independent.get(k) for k in (*FIGURES, "resolved", "bets", "clv_bets")
            },
            "differ": [k for k in FIGURES if not _same(served.get(k), independent.get(k))],
        }
    return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
