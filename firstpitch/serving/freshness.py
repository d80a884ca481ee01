"""When a computed answer may be served: the freshness rule and how far ahead a game is
predictable, judged on the service's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from features.cutoff import horizon_for
from firstpitch.serving.errors import NotYetPredictable

FRESHNESS = timedelta(minutes=15)


def current(horizon: datetime, cutoff: datetime, now: datetime) -> bool:
    """Whether what was computed as of ``horizon`` may be served at ``now``, judged on the
    service's clock (a Redis TTL runs on wall time; a pinned or driven clock need not): from
    the cutoff on, only what sees exactly to the cutoff (the frozen features); before it,
    what is at most FRESHNESS old and not ahead of now (a clock driven back)."""
    target = horizon_for(cutoff, now)
    if target == cutoff:
        return horizon == cutoff
    return target - FRESHNESS <= horizon <= target


def cached_current(entry: dict[str, Any], now: datetime) -> bool:
    made = datetime.fromisoformat(entry["prediction_timestamp"])
    cutoff = datetime.fromisoformat(entry["feature_cutoff_time"])
    return current(min(made, cutoff), cutoff, now)


PREDICTABLE_AHEAD = timedelta(hours=36)  # starting pitchers are not known earlier


def check_predictable(entry: dict[str, Any], now: datetime) -> None:
    start = datetime.fromisoformat(entry["scheduled_start"])
    if start - now > PREDICTABLE_AHEAD:
        raise NotYetPredictable(
            f"game {entry['game_id']} starts {start.isoformat()}; predictions open "
            f"{int(PREDICTABLE_AHEAD.total_seconds() // 3600)} h before first pitch, "
            "once starting pitchers are known"
        )
