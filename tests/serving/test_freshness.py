"""What computed features and cached answers may be served, judged on the service's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from firstpitch.serving.freshness import FRESHNESS, cached_current, current

CUTOFF = datetime(2021, 7, 4, 16, 5, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_before_the_cutoff_only_what_is_fresh_and_not_from_ahead() -> None:
    now = CUTOFF - 60 * MIN
    assert current(now, CUTOFF, now)
    assert current(now - FRESHNESS, CUTOFF, now)
    assert not current(now - FRESHNESS - MIN, CUTOFF, now)
    assert not current(now + MIN, CUTOFF, now)  # computed later than a clock driven back


def test_from_the_cutoff_on_only_the_frozen_features() -> None:
    for now in (CUTOFF, CUTOFF + 30 * MIN, CUTOFF + timedelta(days=2)):
        assert current(CUTOFF, CUTOFF, now)
        assert not current(CUTOFF - MIN, CUTOFF, now)  # fresh a minute ago, not the cutoff's


def test_a_cached_answer_made_hours_before_is_not_served_at_the_cutoff() -> None:
    entry = {"prediction_timestamp": (CUTOFF - 120 * MIN).isoformat(),
             "feature_cutoff_time": CUTOFF.isoformat()}  # fmt: skip
    assert cached_current(entry, CUTOFF - 110 * MIN)
    assert not cached_current(entry, CUTOFF)
    made_after = entry | {"prediction_timestamp": (CUTOFF + MIN).isoformat()}
    assert cached_current(made_after, CUTOFF + 20 * MIN)
