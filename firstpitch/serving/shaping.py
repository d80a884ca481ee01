"""Shaping a prediction: the cached entry of a game, the response a client gets and the
record the log keeps, from the champions served (``ServedModels``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from features.definitions import FEATURE_NAMES
from features.vectors import FeatureVector
from firstpitch.serving import betting
from firstpitch.serving.errors import UnknownModel
from storage.log_records import new_record_id

TARGETS = ("home_win", "total_over")
TOP_FEATURES = 10


@dataclass(frozen=True)
class ServedModels:
    """The champions the model service holds, keyed by target."""

    info: dict[str, dict[str, str]]

    @property
    def names(self) -> dict[str, str]:
        return {m["name"]: target for target, m in self.info.items()}

    @property
    def versions(self) -> tuple[str, str]:
        return self.info["home_win"]["version"], self.info["total_over"]["version"]

    @property
    def feature_version(self) -> str:
        return self.info["home_win"]["feature_version"]

    def target_of(self, model_name: str) -> str:
        if model_name not in self.names:
            raise UnknownModel(
                f"model {model_name!r} is not served; served models: {', '.join(self.names)}"
            )
        return self.names[model_name]


def entry(
    vector: FeatureVector,
    probs: np.ndarray,
    contribs: np.ndarray | None,
    now: datetime,
    policy: betting.BettingPolicy,
) -> dict[str, Any]:
    """What a game's prediction holds (cached as is): probabilities, the odds used, the
    recommendations under ``policy``, the vector's bytes, an explanation if asked."""
    meta = vector.meta
    p_home, p_over = float(probs[0]), float(probs[1])
    start, as_of, cutoff = vector.times
    odds = {
        "open_ml_home": meta.open_ml_home,
        "open_ml_away": meta.open_ml_away,
        "open_total": meta.open_total,
        "open_over_price": meta.open_over_price,
        "open_under_price": meta.open_under_price,
    }
    entry: dict[str, Any] = {
        "game_id": vector.game_id,
        "home_team": meta.home_team,
        "away_team": meta.away_team,
        "game_date": meta.game_date,
        "scheduled_start": start,
        "prediction_timestamp": now.isoformat(),
        "feature_version": vector.feature_version,
        "feature_as_of": as_of,
        "feature_cutoff_time": cutoff,
        "feature_hash": vector.digest,
        "home_ml_probability": p_home,
        "total_over_probability": p_over,
        "odds_used": odds,
        "betting_recommendations": betting.recommendations(p_home, p_over, odds, policy),
        # what a replay of the prediction recomputes it from (float64, little-endian)
        "feature_vector": vector.raw,
    }
    if contribs is not None:
        entry["explanation"] = {t: explain(contribs[k], vector) for k, t in enumerate(TARGETS)}
    return entry


def explain(contrib: np.ndarray, vector: FeatureVector) -> dict[str, Any]:
    values = vector.features()
    per_feature = {n: float(c) for n, c in zip(FEATURE_NAMES, contrib[:-1], strict=True)}
    order = sorted(per_feature, key=lambda n: abs(per_feature[n]), reverse=True)
    return {
        "model_type": "lightgbm",
        "num_features": len(FEATURE_NAMES),
        "base_value": float(contrib[-1]),
        "contribution_space": "log-odds",
        "top_features": [
            {"feature": n, "value": values[n], "contribution": per_feature[n]}
            for n in order[:TOP_FEATURES]
        ],
        "feature_importance": per_feature,
    }


def respond(
    entry: dict[str, Any],
    served: ServedModels,
    policy: betting.BettingPolicy,
    name: str,
    target: str,
    *,
    cache_hit: bool,
) -> dict[str, Any]:
    """The response of one game's prediction, as model ``name`` (serving ``target``)."""
    p_home, p_over = entry["home_ml_probability"], entry["total_over_probability"]
    conf_home, conf_over = betting.confidence(p_home), betting.confidence(p_over)
    primary = conf_home if target == "home_win" else conf_over
    out = {
        "game_id": entry["game_id"],
        "model_name": name,
        "model_version": served.info[target]["version"],
        "prediction_timestamp": entry["prediction_timestamp"],
        "feature_version": entry["feature_version"],
        "feature_cutoff_time": entry["feature_cutoff_time"],
        "feature_as_of": entry["feature_as_of"],
        "home_ml_probability": p_home,
        "home_ml_binary": int(p_home >= 0.5),
        "home_ml_confidence": conf_home,
        "total_over_probability": p_over,
        "total_over_binary": int(p_over >= 0.5),
        "total_over_confidence": conf_over,
        "confidence_threshold_met": primary >= policy.min_confidence,
        "risk_level": betting.risk_level(primary, policy),
        "betting_recommendations": entry["betting_recommendations"],
        "home_team": entry["home_team"],
        "away_team": entry["away_team"],
        "scheduled_start": entry["scheduled_start"],
        "models": {
            t: {"model_name": m["name"], "model_version": m["version"]}
            for t, m in served.info.items()
        },
        "cache_hit": cache_hit,
    }
    if "explanation" in entry:
        out["explanation"] = entry["explanation"][target]
    return out


def record_base(
    served: ServedModels,
    policy_settings: dict[str, Any],
    name: str,
    endpoint: str,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    """What the log records of one request share (worked out once a request)."""
    info = served.info
    return {
        "request_id": request_id,
        "endpoint": endpoint,
        "model_name": name,
        "model_version": info[served.target_of(name)]["version"],
        "home_model_version": info["home_win"]["version"],
        "total_model_version": info["total_over"]["version"],
        "predicted_at": now.isoformat(),
        "policy": policy_settings,
        "shadow": False,
    }


# What ``record`` reads of a game's answer (its other keys are the response's).
RECORD_FIELDS = (
    "game_id",
    "feature_version",
    "feature_hash",
    "feature_as_of",
    "feature_cutoff_time",
    "home_ml_probability",
    "total_over_probability",
    "odds_used",
    "betting_recommendations",
    "feature_vector",
)


def record(
    base: dict[str, Any], entry: dict[str, Any], cache_hit: bool, latency_ms: float
) -> dict[str, Any]:
    """The log record of a served prediction (``storage/log_records.py``'s columns): the
    request's ``base`` (``record_base``) and the game's answer ``entry``."""
    p_home, p_over = entry["home_ml_probability"], entry["total_over_probability"]
    return base | {
        "record_id": new_record_id(),
        "game_id": entry["game_id"],
        "feature_version": entry["feature_version"],
        "feature_hash": entry["feature_hash"],
        "feature_as_of": entry["feature_as_of"],
        "feature_cutoff": entry["feature_cutoff_time"],
        "cache_hit": cache_hit,
        "home_ml_probability": p_home,
        "total_over_probability": p_over,
        "home_ml_confidence": betting.confidence(p_home),
        "total_over_confidence": betting.confidence(p_over),
        "odds_used": entry["odds_used"],
        "recommendations": entry["betting_recommendations"],
        "latency_ms": latency_ms,
        "feature_vector": entry.get("feature_vector"),  # absent in older cache entries
    }
