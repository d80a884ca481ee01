"""The row index takes exactly the rows a filter on the key would, as its frame changes."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.row_index import RowIndex

KEYS = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=40)


def _frame(keys: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"k": keys, "v": list(range(len(keys)))}, schema={"k": pl.String, "v": pl.Int64}
    )


@settings(max_examples=200, deadline=None)
@given(keys=KEYS, wanted=st.lists(st.sampled_from(["a", "c", "e", "z"]), max_size=4))
def test_take_equals_the_filter(keys: list[str], wanted: list[str]) -> None:
    frame = _frame(keys)
    index = RowIndex.build(frame["k"])
    expected = frame.filter(pl.col("k").is_in(wanted))
    assert index.take(frame, [*wanted, None]).equals(expected)


@settings(max_examples=200, deadline=None)
@given(
    keys=KEYS,
    more=KEYS,
    cut=st.integers(0, 40),
    wanted=st.lists(st.sampled_from("abcde"), max_size=3),
)
def test_splice_follows_the_frame(
    keys: list[str], more: list[str], cut: int, wanted: list[str]
) -> None:
    """Rows from ``cut`` on replaced by new ones: as if the index were built afresh."""
    cut = min(cut, len(keys))
    spliced = RowIndex.build(pl.Series(keys, dtype=pl.String)).splice(
        cut, pl.Series(more, dtype=pl.String)
    )
    frame = _frame(keys[:cut] + more)
    fresh = RowIndex.build(frame["k"])
    assert spliced.height == fresh.height == frame.height
    assert spliced.take(frame, wanted).equals(frame.filter(pl.col("k").is_in(wanted)))
    assert {k: v.tolist() for k, v in spliced.rows.items() if v.size} == {
        k: v.tolist() for k, v in fresh.rows.items()
    }


def test_a_frame_not_its_own_is_refused() -> None:
    index = RowIndex.build(pl.Series(["a", "b"]))
    with pytest.raises(ValueError, match="an index of 2 rows"):
        index.take(_frame(["a"]), ["a"])
