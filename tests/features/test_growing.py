"""Columns that grow in shared buffers: every state keeps showing exactly its own rows,
however the states after it grow (in place, from an older state again, or replacing rows)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features.growing import Growing


def test_every_state_keeps_its_rows_whatever_grows_after_it() -> None:
    rng = random.Random(5)
    first = {"a": np.arange(10, dtype=np.int64), "b": np.linspace(0, 1, 10)}
    states = [(Growing.of(first), {k: v.copy() for k, v in first.items()})]
    in_place = 0
    for _ in range(3000):
        base, expected = rng.choice(states[-3:]) if rng.random() < 0.2 else states[-1]
        kept = base.n if rng.random() < 0.8 else rng.randrange(base.n + 1)
        size = rng.randrange(0, 40)
        tail = {"a": rng.getrandbits(40) + np.arange(size, dtype=np.int64),
                "b": np.array([rng.random() for _ in range(size)])}  # fmt: skip
        grown = base.grown(kept, tail)
        in_place += grown._buffers is base._buffers
        want = {k: np.concatenate([expected[k][:kept], tail[k]]) for k in tail}
        states.append((grown, want))
        for state, rows in rng.sample(states, min(len(states), 5)) + states[-2:]:
            assert state.n == len(rows["a"])
            assert all(state.cols[k].tobytes() == rows[k].tobytes() for k in rows)
    assert in_place > 1000  # most grew without a copy


def test_more_rows_kept_than_held_is_refused() -> None:
    held = Growing.of({"a": np.zeros(3)})
    with pytest.raises(ValueError, match="4 rows kept of 3"):
        held.grown(4, {"a": np.zeros(1)})
