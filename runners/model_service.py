"""The model service: both champion LightGBM models behind batchable predict/explain APIs.

Adaptive batching is on unless ``FIRSTPITCH_BATCHING=false``; ``FIRSTPITCH_MAX_BATCH_SIZE``
and ``FIRSTPITCH_MAX_LATENCY_MS`` tune it. The batcher sheds a request (HTTP 503) when it
expects to exceed ``max_latency_ms``; we set that threshold well above real latencies, and
the API retries any shed request (see ``firstpitch/serving/models.py``).
"""

from __future__ import annotations

from typing import Any

import bentoml
import numpy as np

from runners import bentoml_fixes, heap
from runners.champions import explain_all, load_champions, predict_all
from runners.settings import ModelServiceSettings
from runners.versions import VersionedBoosters, explain_versioned, predict_versioned

bentoml_fixes.apply()
SETTINGS = ModelServiceSettings()  # the decorators below need it when the module loads
BATCHING = SETTINGS.batching
MAX_BATCH_SIZE = SETTINGS.max_batch_size
MAX_LATENCY_MS = SETTINGS.max_latency_ms


@bentoml.service(
    name="firstpitch-models",
    workers=SETTINGS.model_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": SETTINGS.access_log}},
)
class ModelService:
    """Loads the champions from the BentoML model store; predicts and explains."""

    def __init__(self) -> None:
        self.models = load_champions()
        settings = SETTINGS
        # any other version (a new champion, a challenger) is loaded on its first request
        self.versions = VersionedBoosters(settings.mlflow_uri, settings.mlflow_artifacts)
        for model in self.models.values():
            self.versions.put(model.name, model.version, model.fast)
        heap.freeze()  # start-up objects out of the collector: see runners/heap.py

    @bentoml.api(
        batchable=BATCHING,
        batch_dim=0,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def predict(self, features: np.ndarray) -> np.ndarray:
        """(n, F) feature rows -> (n, 2) probabilities: home win, total over."""
        return predict_all(self.models, np.asarray(features, dtype=np.float64))

    @bentoml.api(
        batchable=BATCHING,
        batch_dim=0,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def explain(self, features: np.ndarray) -> np.ndarray:
        """(n, F) -> (n, 2, F + 1) LightGBM pred_contrib for both models."""
        return explain_all(self.models, np.asarray(features, dtype=np.float64))

    @bentoml.api(
        batchable=BATCHING,
        batch_dim=0,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def predict_as(self, features: np.ndarray) -> np.ndarray:
        """(n, F + 2) rows, each ending in its home-win and total-over model versions -> (n, 2)
        probabilities by those versions (``runners/versions.py``)."""
        return predict_versioned(self.versions, np.asarray(features, dtype=np.float64))

    @bentoml.api(
        batchable=BATCHING,
        batch_dim=0,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def explain_as(self, features: np.ndarray) -> np.ndarray:
        """(n, F + 2) versioned rows -> (n, 2, F + 1) contributions by those versions."""
        return explain_versioned(self.versions, np.asarray(features, dtype=np.float64))

    @bentoml.api
    def info(self) -> dict[str, Any]:
        """The loaded champions: name, version, tag, feature version, MLflow URI."""
        return {target: model.info() for target, model in self.models.items()}
