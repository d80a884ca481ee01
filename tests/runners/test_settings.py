"""``runners/settings.py``: the model service finds the MLflow store where the API's
``Settings`` does, for every way the two variables may be given."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from firstpitch.settings import Settings
from runners.settings import ModelServiceSettings
from storage import state_paths

VARIABLES = ("FIRSTPITCH_MLFLOW_TRACKING_URI", "FIRSTPITCH_STATE_DIR")
CASES = {
    "unset": {},
    "empty": {"FIRSTPITCH_MLFLOW_TRACKING_URI": "", "FIRSTPITCH_STATE_DIR": ""},
    "tracking uri": {"FIRSTPITCH_MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"},
    "relative state": {"FIRSTPITCH_STATE_DIR": "some/state/../state"},
    "home state": {"FIRSTPITCH_STATE_DIR": "~/fp-state"},
    "lower-case name": {"firstpitch_state_dir": "/srv/fp"},
}


@pytest.mark.parametrize("env", CASES.values(), ids=CASES.keys())
def test_the_model_service_reads_the_store_as_the_settings_do(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative state directory resolves against here
    for name in (*VARIABLES, *(v.lower() for v in VARIABLES)):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api, models = Settings(), ModelServiceSettings()
    assert models.state_dir == api.state_dir
    assert models.mlflow_uri == api.mlflow_uri
    assert models.mlflow_artifacts == api.mlflow_artifacts


def test_the_defaults_are_the_projects_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    models = ModelServiceSettings()
    assert models.state_dir == Path(__file__).resolve().parents[2] / ".state"
    assert models.mlflow_uri == f"sqlite:///{models.state_dir}/mlflow/mlflow.db"
    assert models.mlflow_artifacts == models.state_dir / "mlflow" / "artifacts"
    assert state_paths.mlflow_uri("file:///x", models.state_dir) == "file:///x"


def test_both_read_the_environment_with_the_same_rules() -> None:
    keys = ("env_prefix", "extra", "frozen", "env_ignore_empty", "case_sensitive", "env_file")
    assert {k: ModelServiceSettings.model_config.get(k) for k in keys} == {
        k: Settings.model_config.get(k) for k in keys
    }


SERVICE_VARIABLES = ("FIRSTPITCH_BATCHING", "FIRSTPITCH_MAX_BATCH_SIZE",
                     "FIRSTPITCH_MAX_LATENCY_MS", "FIRSTPITCH_MODEL_WORKERS",
                     "FIRSTPITCH_ACCESS_LOG")  # fmt: skip
SERVICE_CASES = {
    "unset": {},
    "empty": dict.fromkeys(SERVICE_VARIABLES, ""),
    "off": {"FIRSTPITCH_BATCHING": "false", "FIRSTPITCH_ACCESS_LOG": "0"},
    "on, upper case": {"FIRSTPITCH_BATCHING": "TRUE", "FIRSTPITCH_ACCESS_LOG": "Yes"},
    "tuned": {
        "FIRSTPITCH_MAX_BATCH_SIZE": "64",
        "FIRSTPITCH_MAX_LATENCY_MS": "250",
        "FIRSTPITCH_MODEL_WORKERS": "2",
    },
}


@pytest.mark.parametrize("env", SERVICE_CASES.values(), ids=SERVICE_CASES.keys())
def test_the_model_service_reads_its_batcher_and_workers_as_the_settings_do(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api, models = Settings(), ModelServiceSettings()
    for field in ("batching", "max_batch_size", "max_latency_ms", "model_workers", "access_log"):
        assert getattr(models, field) == getattr(api, field), field
    if env.get("FIRSTPITCH_BATCHING") == "":  # empty is unset: batching stays on
        assert models.batching is True


def test_a_value_that_is_not_a_boolean_stops_the_model_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRSTPITCH_BATCHING", "sometimes")
    with pytest.raises(ValidationError, match="batching"):
        ModelServiceSettings()
