"""The pre-game cutoff: pure functions over timestamps.

No feature may use information from later than ``cutoff = scheduled first pitch - 60 min``.
A vector's ``as_of`` is the latest timestamp of any fact it used; it is servable only if
``as_of <= cutoff``. Before the cutoff, the freshest vector (as of "now") is served.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_CUTOFF_MINUTES = 60


class CutoffViolation(Exception):
    """A vector used information from after its game's cutoff; it must never be served."""

    def __init__(self, game_id: str, as_of: datetime, cutoff: datetime) -> None:
        self.game_id, self.as_of, self.cutoff = game_id, as_of, cutoff
        super().__init__(
            f"feature vector for {game_id} is as of {as_of.isoformat()}, "
            f"after its cutoff {cutoff.isoformat()}"
        )


def cutoff_for(scheduled_start: datetime, minutes: int = DEFAULT_CUTOFF_MINUTES) -> datetime:
    if scheduled_start.tzinfo is None:
        raise ValueError("scheduled_start must be timezone-aware")
    return scheduled_start - timedelta(minutes=minutes)


def horizon_for(cutoff: datetime, now: datetime | None) -> datetime:
    """How far a vector may see: the cutoff, or now if the cutoff is still ahead."""
    return cutoff if now is None or now >= cutoff else now


def check_servable(game_id: str, as_of: datetime, cutoff: datetime) -> None:
    if as_of > cutoff:
        raise CutoffViolation(game_id, as_of, cutoff)
