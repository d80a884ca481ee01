"""MLflow (tracking and registry) and the BentoML model store.

Training logs a run and registers a version; promotion points the ``champion`` alias at it
and imports that MLflow model into the BentoML store, labelled with its target, feature
version and MLflow URI. Serving loads champions from the BentoML store only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

CHAMPION = "champion"
# A challenger carries `challenger` (the latest one promoted) and `challenger-<version>`, so a
# model can have several at once: MLflow moves an alias, it never shares one.
CHALLENGER = "challenger"
EXPERIMENT = "firstpitch"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    model_uri: str


def _mlflow(tracking_uri: str, artifacts: Path) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.as_uri() if tracking_uri.startswith("sqlite:") else None
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def log_and_register(
    *,
    tracking_uri: str,
    artifacts: Path,
    registered_name: str,
    booster: Any,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    feature_names: list[str],
    input_example: np.ndarray,
    plots: list[Path],
    report: dict[str, Any],
) -> RegisteredVersion:
    """One MLflow run: parameters, metrics, feature list, plots, the model; then register."""
    import lightgbm as lgb
    import pandas as pd
    from mlflow.models import infer_signature

    mlflow = _mlflow(tracking_uri, artifacts)
    example = pd.DataFrame(input_example, columns=feature_names)
    signature = infer_signature(example, booster.predict(input_example))
    with mlflow.start_run(run_name=f"{registered_name}-{datetime.now(UTC):%Y%m%dT%H%M%S}") as run:
        mlflow.log_params({k: v for k, v in params.items() if k != "metric"})
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags(tags)
        mlflow.log_dict({"feature_names": feature_names}, "features.json")
        mlflow.log_dict(report, "report.json")
        for plot in plots:
            mlflow.log_artifact(str(plot), "plots")
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=registered_name,
            # Explicit requirements: inferring them costs seconds and reaches for the network.
            pip_requirements=[f"lightgbm=={lgb.__version__}", "numpy", "pandas"],
        )
    version = str(info.registered_model_version)
    return RegisteredVersion(registered_name, version, run.info.run_id, info.model_uri)


def log_evaluation(
    *,
    tracking_uri: str,
    artifacts: Path,
    run_name: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    report: dict[str, Any],
) -> str:
    """One MLflow run holding an evaluation (no model): metrics, tags and the full report."""
    mlflow = _mlflow(tracking_uri, artifacts)
    with mlflow.start_run(run_name=f"{run_name}-{datetime.now(UTC):%Y%m%dT%H%M%S}") as run:
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags(tags)
        mlflow.log_dict(report, "evaluation.json")
    return str(run.info.run_id)


def promote(
    tracking_uri: str, artifacts: Path, name: str, version: str, alias: str = CHAMPION
) -> str:
    """Alias ``alias`` -> version, then import it into the BentoML store labelled with that
    stage (the newest ``champion`` there is what a model service loads at start); the tag."""
    mlflow = _mlflow(tracking_uri, artifacts)
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    return import_version(tracking_uri, artifacts, name, version, alias)


def is_challenger_alias(alias: str) -> bool:
    return alias == CHALLENGER or alias.startswith(f"{CHALLENGER}-")


def challenger_versions(tracking_uri: str, artifacts: Path, name: str) -> list[str]:
    """The versions of ``name`` carrying a challenger alias, oldest version first."""
    from mlflow.exceptions import MlflowException

    client = _mlflow(tracking_uri, artifacts).MlflowClient()
    try:
        aliases: dict[str, str] = dict(client.get_registered_model(name).aliases)
    except MlflowException:
        return []
    found = {str(v) for a, v in aliases.items() if is_challenger_alias(a)}
    return sorted(found, key=int)


def set_challenger(tracking_uri: str, artifacts: Path, name: str, version: str) -> str:
    """Alias ``version`` challenger (and ``challenger-<version>``), import it into the BentoML
    store labelled challenger; the tag."""
    client = _mlflow(tracking_uri, artifacts).MlflowClient()
    client.set_registered_model_alias(name, f"{CHALLENGER}-{version}", version)
    return promote(tracking_uri, artifacts, name, version, alias=CHALLENGER)


def retire_challenger(tracking_uri: str, artifacts: Path, name: str, version: str) -> list[str]:
    """Drop every challenger alias of ``version``; the aliases dropped."""
    client = _mlflow(tracking_uri, artifacts).MlflowClient()
    aliases = dict(client.get_registered_model(name).aliases)
    dropped = [a for a, v in aliases.items() if is_challenger_alias(a) and str(v) == version]
    for alias in dropped:
        client.delete_registered_model_alias(name, alias)
    return sorted(dropped)


def run_tags(tracking_uri: str, artifacts: Path, name: str, version: str) -> dict[str, str]:
    """The tags of the run that produced a version (target, feature_version, ...)."""
    client = _mlflow(tracking_uri, artifacts).MlflowClient()
    return dict(client.get_run(client.get_model_version(name, version).run_id).data.tags)


def import_version(tracking_uri: str, artifacts: Path, name: str, version: str, stage: str) -> str:
    """Import an MLflow model version into the BentoML store (labelled ``stage``); the tag."""
    import bentoml

    mlflow = _mlflow(tracking_uri, artifacts)
    client = mlflow.MlflowClient()
    mv = client.get_model_version(name, version)
    run = client.get_run(mv.run_id)
    uri = f"models:/{name}/{version}"
    labels = {
        "target": run.data.tags.get("target", ""),
        "feature_version": run.data.tags.get("feature_version", ""),
        "mlflow_uri": uri,
        "mlflow_version": version,
        "stage": stage,
    }
    metadata = {
        "metrics": {k: v for k, v in run.data.metrics.items()},
        "params": dict(run.data.params),
        "created_at": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(),
        "run_id": mv.run_id,
    }
    model = bentoml.mlflow.import_model(name, uri, labels=labels, metadata=metadata)
    return str(model.tag)


def bento_version(name: str, version: str) -> Any | None:
    """The newest BentoML model of ``name`` imported from MLflow version ``version``."""
    import bentoml

    try:
        models = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return None
    found = [m for m in models if m.info.labels.get("mlflow_version") == version]
    return max(found, key=lambda m: m.info.creation_time) if found else None


def champion_version(tracking_uri: str, artifacts: Path, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    mlflow = _mlflow(tracking_uri, artifacts)
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def bento_champion(name: str) -> Any | None:
    """The newest BentoML model of ``name`` labelled champion, or None."""
    import bentoml

    try:
        models = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return None
    champions = [m for m in models if m.info.labels.get("stage") == CHAMPION]
    return max(champions, key=lambda m: m.info.creation_time) if champions else None


def load_booster(model: Any) -> Any:
    """The LightGBM booster inside an imported MLflow model, loaded without MLflow."""
    import lightgbm as lgb

    path = Path(model.path)
    candidates = sorted(path.rglob("model.lgb"))
    if not candidates:
        raise FileNotFoundError(f"no model.lgb under {path}")
    return lgb.Booster(model_file=str(candidates[0]))


def log_backtest(
    tracking_uri: str, artifacts: Path, name: str, version: str, directory: Path, path: str
) -> str:
    """A backtest report's files as artifacts (under ``path``) of the run that produced the
    model version; that run's id."""
    client = _mlflow(tracking_uri, artifacts).MlflowClient()
    run_id = str(client.get_model_version(name, version).run_id)
    client.log_artifacts(run_id, str(directory), artifact_path=path)
    return run_id
