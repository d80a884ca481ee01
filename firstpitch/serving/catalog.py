"""What the registry knows about each model version (MLflow), for the model endpoints."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firstpitch.serving.errors import UnknownModel
from storage.registry import CHAMPION
from training.dataset import REGISTERED_NAMES

TARGET_OF = {name: target for target, name in REGISTERED_NAMES.items()}
PREDICTION_TYPE = {"home_win": "moneyline", "total_over": "total"}
CARD = ("accuracy", "precision_score", "recall_score", "f1_score", "roc_auc")


class Catalog:
    """Reads model versions from MLflow (in a thread; cached for ``ttl_s``)."""

    def __init__(self, tracking_uri: str, artifacts: Path, ttl_s: float = 30.0) -> None:
        self.tracking_uri = tracking_uri
        self.artifacts = artifacts
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}

    def _client(self) -> Any:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        return mlflow.MlflowClient()

    def _describe(self, name: str, version: str | None) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            champion = str(client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            champion = None
        try:
            mv = client.get_model_version(name, version or champion or "1")
        except MlflowException:
            raise UnknownModel(f"model {name!r} has no version {version!r}") from None
        run = client.get_run(mv.run_id)
        metrics = run.data.metrics
        target = TARGET_OF[name]
        return {
            "model_name": name,
            "model_version": str(mv.version),
            "model_type": "lightgbm",
            "is_active": str(mv.version) == champion,
            "created_at": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(),
            "target_variable": target,
            "prediction_type": PREDICTION_TYPE[target],
            "feature_version": run.data.tags.get("feature_version"),
            "metrics": {k: metrics.get(f"card_{k}") for k in CARD},
            "test_metrics": {k: v for k, v in metrics.items() if k.startswith("test_")},
            "hyperparameters": dict(run.data.params),
            "mlflow_run_id": mv.run_id,
            "mlflow_uri": f"models:/{name}/{mv.version}",
            "data_range": {
                k: run.data.tags.get(k) for k in ("train_range", "valid_range", "test_range")
            },
            "training_range": run.data.tags.get("train_range"),
            "validation_range": run.data.tags.get("valid_range"),
            "test_range": run.data.tags.get("test_range"),
        }

    async def describe(self, name: str, version: str | None = None) -> dict[str, Any]:
        if name not in TARGET_OF:
            raise UnknownModel(f"unknown model {name!r}; models: {', '.join(sorted(TARGET_OF))}")
        key = (name, version)
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        described = await asyncio.to_thread(self._describe, name, version)
        self._cache[key] = (time.monotonic(), described)
        return described

    async def versions(self, name: str) -> list[str]:
        if name not in TARGET_OF:  # the name goes into an MLflow filter: known names only
            raise UnknownModel(f"unknown model {name!r}; models: {', '.join(sorted(TARGET_OF))}")

        def list_versions() -> list[str]:
            found = self._client().search_model_versions(f"name = '{name}'")
            return sorted((str(v.version) for v in found), key=int)

        return await asyncio.to_thread(list_versions)

    async def ping(self) -> None:
        await asyncio.to_thread(lambda: self._client().search_registered_models(max_results=1))
