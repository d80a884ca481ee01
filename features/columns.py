"""Frames whose every column is materialized, for arithmetic that must not depend on size.

Polars (2.1) represents a column that a join fills from a one-row right frame as a scalar
broadcast, and divides a full column by such a scalar by multiplying with its reciprocal:
``x / y`` then differs from the element-wise quotient in the last bit. The offline frame's
joins have thousands of rows on both sides, while a live lookup may join against a single
row (the one league row before every target's horizon), so every join result the features
compute with is passed through ``solid`` first: one code path, the same bytes. For the same
reason no feature divides a column by a literal (a one-row column is divided exactly, a
long one through the reciprocal): such arithmetic runs row by row in Python instead.
"""

from __future__ import annotations

import polars as pl


def solid(frame: pl.DataFrame) -> pl.DataFrame:
    """The same frame with no broadcast (scalar) columns."""
    return pl.DataFrame([frame.get_column(c) for c in frame.columns])
