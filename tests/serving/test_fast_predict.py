"""Our direct LightGBM C predict must equal Booster.predict bit for bit, without garbage."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from runners.fast_predict import FastBooster


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 12))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=2000) > 0).astype(int)
    return lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 7},
                     lgb.Dataset(x, y), num_boost_round=40)  # fmt: skip


def test_same_probabilities_and_contributions(booster: lgb.Booster) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 12))
    x[rng.random(x.shape) < 0.2] = np.nan
    fast = FastBooster(booster)
    assert np.array_equal(fast.predict(x), booster.predict(x))
    assert np.array_equal(fast.predict(x[:1]), booster.predict(x[:1]))
    assert np.array_equal(fast.contrib(x), booster.predict(x, pred_contrib=True))


def test_no_cyclic_garbage_per_call(booster: lgb.Booster) -> None:
    fast, x = FastBooster(booster), np.zeros((1, 12))
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            fast.predict(x)
        ours = gc.collect()
        for _ in range(200):
            booster.predict(x)
        theirs = gc.collect()
    finally:
        gc.enable()
    assert ours == 0 and theirs > 0  # the library's wrapper leaves cycles behind


def test_wrong_width_is_refused(booster: lgb.Booster) -> None:
    with pytest.raises(ValueError, match=r"expected \(n, 12\)"):
        FastBooster(booster).predict(np.zeros((1, 5)))


def test_single_rows_equal_the_wrapper_row_by_row_and_across_threads(
    booster: lgb.Booster,
) -> None:
    """One row goes through the single-row API (one configuration, reused): each row's
    answer is the wrapper's to the bit, also with threads sharing the booster."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 12))
    x[rng.random(x.shape) < 0.2] = np.nan
    fast = FastBooster(booster)
    expected = booster.predict(x)
    singles = np.concatenate([fast.predict(x[i : i + 1]) for i in range(len(x))])
    assert np.array_equal(singles, expected)
    assert fast._one is not None  # the single-row path was the one taken
    assert np.array_equal(fast.predict(x[::2][:1, ::1]), expected[:1])  # a strided view

    def rows(start: int) -> list[np.ndarray]:
        return [fast.predict(x[i : i + 1]) for i in range(start, len(x), 4)]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(rows, range(4)))
    for start, got in enumerate(answers):
        assert np.array_equal(np.concatenate(got), expected[start::4])
