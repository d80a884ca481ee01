"""The feature vector of one game, as stored and served."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from features.definitions import FEATURE_NAMES


@dataclass(frozen=True)
class GameMeta:
    """What serving needs besides the features: teams, times, and the lines known at the
    vector's horizon: the opening line (open_*) and the current one (each market's last
    snapshot, seen at ml_seen_at / total_seen_at)."""

    home_team: str
    away_team: str
    game_date: str
    scheduled_start: datetime
    game_type: str
    open_ml_home: int | None = None
    open_ml_away: int | None = None
    open_total: float | None = None
    open_over_price: int | None = None
    open_under_price: int | None = None
    ml_home: int | None = None
    ml_away: int | None = None
    total: float | None = None
    over_price: int | None = None
    under_price: int | None = None
    ml_seen_at: datetime | None = None
    total_seen_at: datetime | None = None


@dataclass(frozen=True)
class Lines:
    """A game's betting lines at some moment: the opening line and the current one (each
    market's last snapshot, seen at ``ml_seen_at`` / ``total_seen_at``)."""

    open_ml_home: int | None = None
    open_ml_away: int | None = None
    open_total: float | None = None
    open_over_price: int | None = None
    open_under_price: int | None = None
    ml_home: int | None = None
    ml_away: int | None = None
    total: float | None = None
    over_price: int | None = None
    under_price: int | None = None
    ml_seen_at: datetime | None = None
    total_seen_at: datetime | None = None


@dataclass(frozen=True)
class FeatureVector:
    game_id: str
    feature_version: str
    as_of: datetime
    cutoff: datetime
    horizon: datetime  # how far the computation was allowed to see: min(cutoff, now)
    values: npt.NDArray[np.float64]
    meta: GameMeta
    names: tuple[str, ...] = field(default=FEATURE_NAMES)

    # Worked out once a vector (a stored vector is decoded once and shared, features/store.py)
    @functools.cached_property
    def raw(self) -> bytes:
        """The values as float64 little-endian bytes: what is hashed, logged and replayed."""
        return self.values.astype("<f8").tobytes()

    @functools.cached_property
    def digest(self) -> str:
        """The SHA-256 of ``raw``, hex: the log's ``feature_hash``."""
        return hashlib.sha256(self.raw).hexdigest()

    @functools.cached_property
    def times(self) -> tuple[str, str, str]:
        """First pitch, as-of and cutoff, ISO 8601."""
        return (
            self.meta.scheduled_start.isoformat(),
            self.as_of.isoformat(),
            self.cutoff.isoformat(),
        )

    def features(self) -> dict[str, float | None]:
        return {
            n: (None if np.isnan(v) else float(v))
            for n, v in zip(self.names, self.values, strict=True)
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "feature_version": self.feature_version,
            "as_of": self.as_of.isoformat(),
            "cutoff": self.cutoff.isoformat(),
            "features": self.features(),
        }
