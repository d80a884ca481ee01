"""Load the champion boosters from the BentoML model store (no other I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from features.definitions import FEATURE_VERSION
from runners.fast_predict import FastBooster
from storage.registry import bento_champion, load_booster
from training.dataset import REGISTERED_NAMES

# One thread per prediction: a request holds 1-50 rows, far too few to pay for OpenMP's
# fork/join, and idle OpenMP threads spinning on 2 cores starve the event loop (measured:
# LightGBM took 36% of the API loop under 8 concurrent clients with the default).
PREDICT_THREADS = 1


class NoChampion(RuntimeError):
    """The store holds no champion for a target: train with ``firstpitch train --promote``."""


@dataclass(frozen=True)
class LoadedModel:
    target: str
    name: str
    version: str
    tag: str
    feature_version: str
    mlflow_uri: str
    created_at: str
    booster: Any
    fast: FastBooster

    def info(self) -> dict[str, str]:
        return {
            "target": self.target,
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "feature_version": self.feature_version,
            "mlflow_uri": self.mlflow_uri,
            "created_at": self.created_at,
        }


def load_champions() -> dict[str, LoadedModel]:
    loaded = {}
    for target, name in REGISTERED_NAMES.items():
        model = bento_champion(name)
        if model is None:
            raise NoChampion(
                f"no champion {name} in the BentoML store; run "
                f"`firstpitch train --target {target} --promote`"
            )
        labels = model.info.labels
        if labels.get("feature_version") != FEATURE_VERSION:  # its vectors no longer exist
            raise NoChampion(
                f"the champion {model.tag} was trained on feature set "
                f"{labels.get('feature_version')}, this code computes {FEATURE_VERSION}; "
                "retrain it (`firstpitch up` does)"
            )
        loaded[target] = LoadedModel(
            target=target,
            name=name,
            version=labels.get("mlflow_version", model.tag.version),
            tag=str(model.tag),
            feature_version=labels["feature_version"],
            mlflow_uri=labels.get("mlflow_uri", ""),
            created_at=model.info.creation_time.isoformat(),
            booster=(booster := load_booster(model)),
            fast=FastBooster(booster, num_threads=PREDICT_THREADS),
        )
    return loaded


TARGET_ORDER = ("home_win", "total_over")


def predict_all(
    models: dict[str, LoadedModel], x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(n, F) -> (n, 2): the home-win and total-over probabilities."""
    return np.column_stack([models[t].fast.predict(x) for t in TARGET_ORDER])


def explain_all(
    models: dict[str, LoadedModel], x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(n, F) -> (n, 2, F + 1): per-feature contributions (log-odds) plus the bias term."""
    return np.stack([models[t].fast.contrib(x) for t in TARGET_ORDER], axis=1)
