"""A small real model: trained, logged to MLflow, registered, promoted, imported to BentoML."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest

from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from firstpitch.settings import Settings
from storage import registry
from storage.postgres import connect
from training.dataset import labelled_frame, split
from training.metrics import ece, scores


@pytest.fixture(scope="session")
def trained(champions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return champions["home_win"]


async def test_report_compares_with_market_and_constant(trained: dict[str, Any]) -> None:
    assert trained["target"] == "home_win" and trained["promoted"]
    assert set(trained["test"]) == {"2021"}
    assert trained["data_range"] == {
        "train": "2005-2019",
        "valid": "2020",
        "test": "2021",
        "primary_test": "2021",
    }
    for season in ("2021",):
        parts = trained["test"][season]
        assert set(parts) == {"model", "constant", "opening_market", "closing_market"}
        n = {p["n"] for p in parts.values()}
        assert len(n) == 1  # every benchmark on the same games
        assert parts["model"]["log_loss"] < parts["constant"]["log_loss"]
        assert 0.5 < parts["closing_market"]["auc"] < 0.7
    assert trained["test"]["2021"]["model"]["n"] > 2400


async def test_mlflow_run_has_everything(settings: Settings, trained: dict[str, Any]) -> None:
    mlflow.set_tracking_uri(settings.mlflow_uri)
    client = mlflow.MlflowClient()
    run = client.get_run(trained["run_id"])
    assert run.data.tags["feature_version"] == FEATURE_VERSION
    assert run.data.tags["target"] == "home_win"
    assert run.data.params["num_leaves"] == "7"
    assert "test_2021_model_log_loss" in run.data.metrics
    assert "test_2021_closing_market_brier" in run.data.metrics
    paths = {a.path for a in client.list_artifacts(trained["run_id"], "plots")}
    assert paths == {"plots/reliability.png", "plots/importance.png"}
    features = mlflow.artifacts.load_dict(f"runs:/{trained['run_id']}/features.json")
    assert features["feature_names"] == list(FEATURE_NAMES)
    champion = client.get_model_version_by_alias("firstpitch-home-win", "champion")
    assert str(champion.version) == trained["model_version"]


async def test_imported_model_predicts_exactly_like_the_booster(
    settings: Settings, trained: dict[str, Any], ingested: str
) -> None:
    model = registry.bento_champion("firstpitch-home-win")
    assert model is not None and str(model.tag) == trained["bento_tag"]
    assert model.info.labels["target"] == "home_win"
    assert model.info.labels["feature_version"] == FEATURE_VERSION
    assert (
        model.info.labels["mlflow_uri"] == f"models:/firstpitch-home-win/{trained['model_version']}"
    )
    conn = await connect(ingested)
    try:
        frame = await labelled_frame(conn, "home_win")
    finally:
        await conn.close()
    x = split(frame)[2]["2021"].x[:200]
    served = registry.load_booster(model).predict(x)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    original = mlflow.lightgbm.load_model(f"runs:/{trained['run_id']}/model")
    assert isinstance(original, lgb.Booster)
    np.testing.assert_array_equal(served, original.predict(x))
    import bentoml

    pyfunc = bentoml.mlflow.load_model(model)
    via_pyfunc = np.asarray(pyfunc.predict(pd.DataFrame(x, columns=list(FEATURE_NAMES))))
    np.testing.assert_array_equal(served, via_pyfunc.ravel())


async def test_total_over_labels_use_the_opening_total_and_drop_pushes(ingested: str) -> None:
    conn = await connect(ingested)
    try:
        frame = await labelled_frame(conn, "total_over")
        pushes = await conn.fetchval(
            "SELECT count(*) FROM game_results r JOIN odds o USING (game_id) "
            "WHERE r.home_score + r.away_score = o.open_total"
        )
        with_line = await conn.fetchval("SELECT count(*) FROM odds WHERE open_total IS NOT NULL")
    finally:
        await conn.close()
    total = frame["home_score"] + frame["away_score"]
    assert (total != frame["open_total"]).all()
    assert ((total > frame["open_total"]).cast(pl.Int8) == frame["label"]).all()
    assert pushes > 1000 and frame.height == with_line - pushes
    assert frame["season"].min() == 2010


def test_metrics_against_hand_computed_values() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([0.8, 0.3, 0.6, 0.4])
    s = scores(y, p)
    assert s["brier"] == pytest.approx(np.mean([0.04, 0.09, 0.16, 0.16]))
    assert s["accuracy"] == 1.0 and s["auc"] == 1.0
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.6, 0.6])))
    assert ece(np.array([1.0, 1.0]), np.array([0.7, 0.7])) == pytest.approx(0.3)
