"""Synthetic prediction-log records for the log's benchmarks: shaped like the predictor's
(recommendations, odds, the betting policy, a feature vector and its hash), 1,000 games."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from storage.log_records import new_record_id

# A served vector: 85 float64 values, a few missing (NaN), as features/definitions.py has them;
# one per game (1,000 games), with its sha256 as the predictor computes it.
GAMES = 1000
_RNG = np.random.default_rng(7)
VECTORS = [
    np.where(_RNG.random(85) < 0.05, np.nan, _RNG.normal(0, 1, 85)).astype("<f8").tobytes()
    for _ in range(GAMES)
]
HASHES = [hashlib.sha256(v).hexdigest() for v in VECTORS]
POLICY = {"devig_method": "multiplicative", "kelly_multiplier": 0.25, "max_bet_fraction": 0.05,
          "min_edge": 0.02, "min_confidence": 0.55}  # fmt: skip


def sample(i: int) -> dict[str, Any]:
    """A record shaped like the ones the predictor logs (recommendations included)."""
    now = datetime(2021, 7, 4, 15, tzinfo=UTC) + timedelta(microseconds=i)
    side = {"recommended": i % 3 == 0, "side": "home", "market_probability": 0.5123,
            "model_probability": 0.5588, "edge": 0.0465, "expected_value": 0.071,
            "kelly_fraction": 0.0121, "american_odds": -110, "reason": "edge below 0.02"}  # fmt: skip
    return {
        "record_id": new_record_id(), "request_id": f"bench-{i // 50}", "endpoint": "batch",
        "game_id": f"CIN2021{i % GAMES:04d}0", "model_name": "firstpitch-home-win",
        "model_version": "3", "home_model_version": "3", "total_model_version": "2",
        "feature_version": "fs-2026.11.1", "feature_hash": HASHES[i % GAMES],
        "feature_as_of": now.isoformat(), "feature_cutoff": now.isoformat(),
        "predicted_at": now.isoformat(), "cache_hit": bool(i % 2),
        "home_ml_probability": 0.5588, "total_over_probability": 0.4912,
        "home_ml_confidence": 0.5588, "total_over_confidence": 0.5088,
        "odds_used": {"open_ml_home": -120, "open_ml_away": 110, "open_total": 8.5,
                      "open_over_price": -110, "open_under_price": -110},
        "recommendations": {"moneyline": side, "total": side | {"side": "over", "line": 8.5}},
        "latency_ms": 1.25, "feature_vector": VECTORS[i % GAMES], "policy": POLICY,
        "shadow": False,
    }  # fmt: skip
