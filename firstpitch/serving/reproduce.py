"""Replaying a logged prediction: the same vector through the same model versions, and the
same recommendations under the same betting policy and odds, compared field by field.

The serving path computes ``booster.predict`` on the vector (``runners/fast_predict.py``) and
``betting.recommendations`` on the probabilities; a replay calls exactly those on what the
record kept, so an identical answer is expected bit for bit, and any difference (a model
file changed under its version, a vector that is not what was hashed, a tampered record) is
named.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import numpy as np

from firstpitch.serving import betting
from firstpitch.serving.errors import NotReplayable
from runners.versions import VersionedBoosters, VersionNotFound
from training.dataset import REGISTERED_NAMES

# What a replay recomputes and compares; everything else in the record is context.
ANSWER = (
    "home_ml_probability",
    "total_over_probability",
    "home_ml_confidence",
    "total_over_confidence",
    "recommendations",
)
VERSION_OF = {"home_win": "home_model_version", "total_over": "total_model_version"}


def answer(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ANSWER}


def vector_of(record: dict[str, Any]) -> np.ndarray:
    raw = record.get("feature_vector")
    if raw is None or record.get("policy") is None:
        raise NotReplayable(
            f"record {record['record_id']} was logged without its feature vector and betting "
            "policy (before they were kept), so it cannot be replayed"
        )
    return np.frombuffer(bytes(raw), dtype="<f8").reshape(1, -1)


class Replayer:
    """Recomputes records with the versions they name (loaded once, off the event loop)."""

    def __init__(self, boosters: VersionedBoosters) -> None:
        self.boosters = boosters

    def _probabilities(self, record: dict[str, Any], x: np.ndarray) -> tuple[float, float]:
        out = []
        for target, column in VERSION_OF.items():
            try:
                booster = self.boosters.get(REGISTERED_NAMES[target], record[column])
            except VersionNotFound as exc:
                raise NotReplayable(str(exc)) from None
            if booster.num_features != x.shape[1]:
                raise NotReplayable(
                    f"record {record['record_id']} holds {x.shape[1]} features; "
                    f"{REGISTERED_NAMES[target]} version {record[column]} takes "
                    f"{booster.num_features}"
                )
            out.append(float(booster.predict(x)[0]))
        return out[0], out[1]

    def recompute(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record's answer as the named versions and policy give it now (blocking)."""
        x = vector_of(record)
        p_home, p_over = self._probabilities(record, x)
        policy = betting.BettingPolicy(**record["policy"])
        return {
            "home_ml_probability": p_home,
            "total_over_probability": p_over,
            "home_ml_confidence": betting.confidence(p_home),
            "total_over_confidence": betting.confidence(p_over),
            "recommendations": betting.recommendations(p_home, p_over, record["odds_used"], policy),
        }

    async def replay(self, record: dict[str, Any]) -> dict[str, Any]:
        """Both answers, whether they are identical, and which fields are not."""
        replayed = await asyncio.to_thread(self.recompute, record)
        return compare(record, replayed)


def compare(record: dict[str, Any], replayed: dict[str, Any]) -> dict[str, Any]:
    logged = answer(record)
    differences = [k for k in ANSWER if logged[k] != replayed[k]]
    vector_hash = hashlib.sha256(bytes(record["feature_vector"])).hexdigest()
    if vector_hash != record["feature_hash"]:
        differences.append("feature_hash")
    return {
        "record_id": record["record_id"],
        "game_id": record["game_id"],
        "models": {
            target: {
                "model_name": REGISTERED_NAMES[target],
                "model_version": record[column],
            }
            for target, column in VERSION_OF.items()
        },
        "feature_version": record["feature_version"],
        "policy": record["policy"],
        "identical": not differences,
        "differences": differences,
        "logged": logged,
        "replayed": replayed,
    }
