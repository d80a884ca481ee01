"""Where the project's state directory is by default, and where in a state directory the
MLflow tracking store and its artifacts live when no tracking URI is configured: one
derivation for the settings of the API (``firstpitch/settings.py``) and of the model service
(``runners/settings.py``)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"


def mlflow_uri(tracking_uri: str | None, state_dir: Path) -> str:
    """The configured tracking URI, else the SQLite store in ``state_dir``."""
    if tracking_uri:
        return tracking_uri
    return f"sqlite:///{state_dir / 'mlflow' / 'mlflow.db'}"


def mlflow_artifacts(state_dir: Path) -> Path:
    """Where MLflow keeps the artifacts of runs in ``state_dir``'s store."""
    return state_dir / "mlflow" / "artifacts"
