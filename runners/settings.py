"""What the model service reads of the configuration: where the MLflow store is, its workers,
access log and batcher, from the same ``FIRSTPITCH_*`` variables read the same way as
``firstpitch.settings.Settings`` (the one settings object of the upper layer, which the
runners do not import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage import state_paths


class ModelServiceSettings(BaseSettings):
    """The model service's variables, as ``Settings`` reads them (empty counts as unset; a
    value that is not a boolean or an integer stops the service with the variable's name)."""

    model_config = SettingsConfigDict(
        env_prefix="FIRSTPITCH_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI; unset uses a local store in the state directory."""
    state_dir: Path = state_paths.DEFAULT_STATE_DIR
    """Embedded servers' data, the MLflow store and the BentoML home."""
    model_workers: int = 1
    """Worker processes of the model service."""
    access_log: bool = False
    """BentoML's per-request access log."""
    batching: bool = True
    """Adaptive batching."""
    max_batch_size: int = 128
    """Largest batch (rows) the batcher forms."""
    max_latency_ms: int = 1000
    """The batcher's shedding threshold (the API retries a shed request)."""

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def mlflow_uri(self) -> str:
        return state_paths.mlflow_uri(self.mlflow_tracking_uri, self.state_dir)

    @property
    def mlflow_artifacts(self) -> Path:
        return state_paths.mlflow_artifacts(self.state_dir)
