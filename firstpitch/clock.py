"""The service's clock: real UTC time, pinned (``FIRSTPITCH_NOW``) to run over a past date,
or driven (``FIRSTPITCH_CLOCK_DRIVABLE``) by a season replay that moves it forward."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


class Clock:
    """Real UTC time, or a pinned instant when ``pinned`` is set.

    A drivable clock starts at the pinned instant (or real time) and then shows whatever
    instant it was last driven to (``drive``) until it is driven again: a replay's facts
    and the predictions made from them are then stamped with the replayed time.
    """

    def __init__(
        self, pinned: datetime | None = None, tz: ZoneInfo | None = None, *, drivable: bool = False
    ) -> None:
        if pinned is not None and pinned.tzinfo is None:
            raise ValueError("a pinned time must be timezone-aware")
        self._pinned = pinned.astimezone(UTC) if pinned else None
        self._tz = tz or ZoneInfo("America/New_York")
        self.drivable = drivable
        self._driven: datetime | None = None

    @property
    def pinned(self) -> bool:
        """True when time stands still for good (a drivable clock does not)."""
        return self._pinned is not None and not self.drivable

    def now(self) -> datetime:
        if self._driven is not None:
            return self._driven
        return self._pinned if self._pinned is not None else datetime.now(UTC)

    def drive(self, instant: datetime) -> None:
        if not self.drivable:
            raise PermissionError("this clock is not drivable (FIRSTPITCH_CLOCK_DRIVABLE)")
        if instant.tzinfo is None:
            raise ValueError("a driven time must be timezone-aware")
        self._driven = instant.astimezone(UTC)

    def today(self) -> date:
        """The calendar day in the configured local zone (US/Eastern by default)."""
        return self.now().astimezone(self._tz).date()
