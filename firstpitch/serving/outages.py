"""Dependency outages are expected conditions, not defects: which dependency an exception
says is away, and one rate-limited WARNING naming it (no traceback) instead of an ERROR.

ERROR (with its traceback) stays for what really is a defect, so an operator can alert on
it; background loops and request handlers alike report outages through ``OutageLog``.
"""

from __future__ import annotations

import logging
import time

import asyncpg

from firstpitch.serving.errors import Unavailable
from firstpitch.serving.models import ModelUnavailable
from storage.postgres import UNREACHABLE as POSTGRES_UNREACHABLE
from storage.postgres import DatabaseUnavailable
from storage.redis import UNREACHABLE as REDIS_UNREACHABLE

POSTGRES, REDIS, MODELS = "PostgreSQL", "Redis", "the model service"


def unavailable_dependency(exc: BaseException) -> str | None:
    """The dependency ``exc`` says is unreachable, or None when it is not an outage."""
    if isinstance(exc, REDIS_UNREACHABLE):  # before OSError: redis' errors are not OSErrors
        return REDIS
    if isinstance(exc, DatabaseUnavailable | asyncpg.PostgresConnectionError):
        return POSTGRES
    if isinstance(exc, ModelUnavailable):
        return MODELS
    if isinstance(exc, Unavailable):
        return MODELS if "model" in exc.message else POSTGRES
    if isinstance(exc, POSTGRES_UNREACHABLE):  # OSError, asyncpg's interface errors
        return POSTGRES
    return None


class OutageLog:
    """At most one warning per dependency every ``every_s``, counting what it held back."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger, self.every_s = logger, every_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, dependency: str, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last.get(dependency, -self.every_s) < self.every_s:
            self._held[dependency] = self._held.get(dependency, 0) + 1
            return
        held = self._held.pop(dependency, 0)
        self._last[dependency] = now
        self.logger.warning(
            "%s unavailable (%s): %s%s",
            dependency,
            type(exc).__name__,
            what,
            f" ({held} more since the last warning)" if held else "",
        )
