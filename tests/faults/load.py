"""Load for the fault tests: the closed-loop clients and prediction-log queries of
loadtests/harness, phases stretched by ``FIRSTPITCH_FAULT_SCALE``, one FAULT line a scenario."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from loadtests.harness import fault_lines
from loadtests.harness.closed_loop import Load, Outcome
from loadtests.harness.prediction_log import Logged, logged, wait_logged

__all__ = ["SCALE", "Load", "Logged", "Outcome", "hold", "logged", "report", "today",
           "wait_for", "wait_logged"]  # fmt: skip

# Phases of the fault tests last seconds in CI; loadtests/soak_faults.py stretches them.
SCALE = float(os.environ.get("FIRSTPITCH_FAULT_SCALE", "1"))


async def hold(seconds: float) -> None:
    """Let a phase (load before, during, after a fault) run for ``seconds`` × SCALE."""
    await asyncio.sleep(seconds * SCALE)


def report(scenario: str, load: Load, **facts: Any) -> None:
    """One line per scenario (``FAULT {json}``) that the soak script collects."""
    statuses = {str(k): v for k, v in sorted(load.statuses().items(), key=str)}
    line = {"scenario": scenario, "scale": SCALE, "requests": len(load.outcomes),
            "statuses": statuses, "served_records": load.served_records(), **facts}  # fmt: skip
    fault_lines.emit(line)


async def today(url: str, headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        resp = await client.get("/api/v1/predictions/today")
        assert resp.status_code == 200, resp.text
        return [p["game_id"] for p in resp.json()["predictions"]]


async def wait_for(check: Callable[[], Any], within: float, interval: float = 0.2) -> float:
    """Seconds until ``await check()`` is truthy (AssertionError after ``within``)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if await check():
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(interval)
    raise AssertionError(f"not within {within} s")
