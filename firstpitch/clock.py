"""A clock that can be pinned (``FIRSTPITCH_NOW``), so the system can run over a past date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


class Clock:
    """Real UTC time, or a pinned instant when ``pinned`` is set."""

    def __init__(self, pinned: datetime | None = None, tz: ZoneInfo | None = None) -> None:
        if pinned is not None and pinned.tzinfo is None:
            raise ValueError("a pinned time must be timezone-aware")
        self._pinned = pinned.astimezone(UTC) if pinned else None
        self._tz = tz or ZoneInfo("America/New_York")

    @property
    def pinned(self) -> bool:
        return self._pinned is not None

    def now(self) -> datetime:
        return self._pinned if self._pinned is not None else datetime.now(UTC)

    def today(self) -> date:
        """The calendar day in the configured local zone (US/Eastern by default)."""
        return self.now().astimezone(self._tz).date()
