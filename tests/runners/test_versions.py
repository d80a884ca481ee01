"""Versioned rows: each row predicted by the versions it names, in one call."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from runners.fast_predict import FastBooster
from runners.versions import (
    VersionedBoosters,
    explain_versioned,
    predict_versioned,
    with_versions,
)
from training.dataset import REGISTERED_NAMES


def tiny(seed: int) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] + rng.normal(scale=0.5 + seed, size=400) > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": seed}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=5 + 5 * seed)


def test_mixed_versions_in_one_call_equal_each_versions_own_prediction(tmp_path: Path) -> None:
    boosters = VersionedBoosters("sqlite:///unused.db", tmp_path)
    models = {(t, v): tiny(i) for i, (t, v) in enumerate(
        [(t, v) for t in REGISTERED_NAMES for v in ("1", "2")])}  # fmt: skip
    for (target, version), booster in models.items():
        boosters.put(REGISTERED_NAMES[target], version, FastBooster(booster))
    x = np.random.default_rng(9).normal(size=(6, 5))
    x[1, 2] = np.nan
    rows = np.vstack([with_versions(x[:3], ("1", "2")), with_versions(x[3:], ("2", "1"))])
    got = predict_versioned(boosters, rows)
    for i in range(6):
        home, total = ("1", "2") if i < 3 else ("2", "1")
        assert got[i, 0] == models[("home_win", home)].predict(x[i : i + 1])[0]
        assert got[i, 1] == models[("total_over", total)].predict(x[i : i + 1])[0]
    contrib = explain_versioned(boosters, rows)
    assert contrib.shape == (6, 2, 6)
    expected = models[("home_win", "2")].predict(x[4:5], pred_contrib=True)[0]
    assert np.allclose(contrib[4, 0], expected)


@pytest.mark.parametrize("bad", [0.0, 1.5, -3.0])
def test_a_row_naming_no_version_is_refused(tmp_path: Path, bad: float) -> None:
    boosters = VersionedBoosters("sqlite:///unused.db", tmp_path)
    rows = np.array([[0.1, 0.2, bad, 1.0]])
    with pytest.raises(ValueError, match="not a model version"):
        predict_versioned(boosters, rows)
