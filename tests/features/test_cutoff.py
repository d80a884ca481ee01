from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from features.cutoff import CutoffViolation, check_servable, cutoff_for, horizon_for

START = datetime(2021, 7, 4, 17, 5, tzinfo=UTC)


def test_cutoff_is_an_hour_before_first_pitch() -> None:
    assert cutoff_for(START) == START - timedelta(minutes=60)
    assert cutoff_for(START, 30) == START - timedelta(minutes=30)
    with pytest.raises(ValueError, match="timezone-aware"):
        cutoff_for(START.replace(tzinfo=None))


def test_horizon_is_now_until_the_cutoff() -> None:
    cutoff = cutoff_for(START)
    assert horizon_for(cutoff, None) == cutoff
    assert horizon_for(cutoff, cutoff - timedelta(hours=5)) == cutoff - timedelta(hours=5)
    assert horizon_for(cutoff, cutoff + timedelta(hours=5)) == cutoff


def test_servable_at_or_before_cutoff_only() -> None:
    cutoff = cutoff_for(START)
    check_servable("G", cutoff, cutoff)
    with pytest.raises(CutoffViolation, match="after its cutoff"):
        check_servable("G", cutoff + timedelta(microseconds=1), cutoff)
