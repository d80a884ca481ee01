"""Dependency outages are warnings naming the dependency, without a traceback, retried;
defects stay errors with their traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from firstpitch.clock import Clock
from firstpitch.serving import warm
from firstpitch.serving.models import ModelUnavailable
from firstpitch.serving.outages import OutageLog, unavailable_dependency
from storage.postgres import DatabaseUnavailable


def test_each_outage_names_its_dependency() -> None:
    assert unavailable_dependency(DatabaseUnavailable("x")) == "PostgreSQL"
    assert unavailable_dependency(ConnectionRefusedError(111, "refused")) == "PostgreSQL"
    assert unavailable_dependency(asyncpg.CannotConnectNowError("x")) == "PostgreSQL"
    assert unavailable_dependency(RedisConnectionError("x")) == "Redis"
    assert unavailable_dependency(ModelUnavailable("x")) == "the model service"
    assert unavailable_dependency(KeyError("x")) is None  # a defect, not an outage
    assert unavailable_dependency(ValueError("x")) is None


def test_outage_warnings_are_rate_limited(live_logs: pytest.LogCaptureFixture) -> None:
    outages = OutageLog(logging.getLogger("t"), every_s=60)
    for _ in range(5):
        outages.warn("Redis", "requests answered 503", RedisConnectionError("x"))
    outages.warn("PostgreSQL", "requests answered 503", DatabaseUnavailable("x"))
    assert [r.getMessage().split(" (")[0] for r in live_logs.records] == [
        "Redis unavailable",
        "PostgreSQL unavailable",
    ]
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in live_logs.records)


async def test_warming_through_an_outage_warns_once_and_retries(
    monkeypatch: pytest.MonkeyPatch, live_logs: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def warm_once(rt: Any, done: dict[str, str]) -> datetime | None:
        calls.append(1)
        if len(calls) <= 3:
            raise DatabaseUnavailable("PostgreSQL unavailable (ConnectionRefusedError)")
        return None  # a pinned clock with nothing left to warm: the loop ends

    monkeypatch.setattr(warm, "warm_once", warm_once)
    monkeypatch.setattr(warm, "RETRY", warm.timedelta(milliseconds=10))
    monkeypatch.setattr(warm.heap, "freeze", lambda: None)
    rt = SimpleNamespace(clock=Clock(datetime(2021, 7, 4, 15, tzinfo=UTC)))
    live_logs.set_level(logging.INFO, logger=warm.__name__)
    await warm.warm_loop(rt)  # type: ignore[arg-type]
    assert len(calls) == 4  # retried after each failed round, not given up
    records = [r for r in live_logs.records if r.name == warm.__name__]
    assert [r.levelname for r in records] == ["WARNING"]  # one, however many rounds failed
    assert "PostgreSQL unavailable" in records[0].getMessage() and not records[0].exc_info


async def test_a_defect_while_warming_is_an_error_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, live_logs: pytest.LogCaptureFixture
) -> None:
    async def warm_once(rt: Any, done: dict[str, str]) -> datetime | None:
        raise KeyError("scheduled_start")

    monkeypatch.setattr(warm, "warm_once", warm_once)
    monkeypatch.setattr(warm, "RETRY", warm.timedelta(milliseconds=10))
    rt = SimpleNamespace(clock=Clock(datetime(2021, 7, 4, 15, tzinfo=UTC)))
    loop = asyncio.create_task(warm.warm_loop(rt))  # type: ignore[arg-type]
    for _ in range(200):
        if sum(r.levelno == logging.ERROR for r in live_logs.records) >= 2:
            break
        await asyncio.sleep(0.01)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    errors = [r for r in live_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info for r in errors)


def test_asyncpg_pool_outages_lose_their_traceback(live_logs: pytest.LogCaptureFixture) -> None:
    import storage.postgres  # noqa: F401  (installs the filter)

    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning("Failed to restore the pool", exc_info=True)
    (record,) = [r for r in live_logs.records if r.name == "asyncpg.pool"]
    assert record.exc_info is None
    assert record.getMessage().startswith("PostgreSQL unavailable (ConnectionRefusedError)")
