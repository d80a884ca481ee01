"""A small load generator for the fault tests: concurrent clients, every outcome recorded,
and what of it reached the prediction log."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from storage.postgres import connect

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
    print("FAULT " + json.dumps(line), flush=True)


@dataclass
class Outcome:
    started: float  # monotonic
    latency_s: float
    status: int | None  # None: no HTTP answer (connection refused/reset)
    request_id: str
    games: int
    error: str | None = None  # the JSON error code, or the transport error's class

    @property
    def served(self) -> bool:
        return self.status == 200


@dataclass
class Load:
    """Clients posting predictions in a closed loop until stopped."""

    url: str
    headers: dict[str, str]
    games: list[str]
    concurrency: int = 8
    prefix: str = field(default_factory=lambda: f"load-{uuid.uuid4().hex[:8]}")
    body: Callable[[int], dict[str, Any]] | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def _request(self, n: int) -> dict[str, Any]:
        if self.body is not None:
            return self.body(n)
        return {"game_id": self.games[n % len(self.games)]}

    async def _client(self) -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30,
                                     limits=limits) as client:  # fmt: skip
            while not self._stop.is_set():
                n = next(self._seq)
                rid = f"{self.prefix}-{n}"
                body = self._request(n)
                path = "/api/v1/predict/batch" if "game_ids" in body else "/api/v1/predict"
                games = len(body.get("game_ids", [body.get("game_id")]))
                started = time.monotonic()
                try:
                    resp = await client.post(path, json=body, headers={"x-request-id": rid})
                except httpx.TransportError as exc:
                    self.outcomes.append(Outcome(started, time.monotonic() - started, None, rid,
                                                 games, type(exc).__name__))  # fmt: skip
                    await asyncio.sleep(0.05)
                    continue
                error = None if resp.status_code == 200 else resp.json().get("error")
                self.outcomes.append(Outcome(started, time.monotonic() - started,
                                             resp.status_code, rid, games, error))  # fmt: skip
                if resp.status_code != 200:
                    await asyncio.sleep(0.01)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started < end]

    def statuses(self, outcomes: list[Outcome] | None = None) -> Counter[int | None]:
        return Counter(o.status for o in (self.outcomes if outcomes is None else outcomes))

    def served_records(self) -> int:
        """Prediction records the served answers stand for (one per game answered)."""
        return sum(o.games for o in self.outcomes if o.served)

    def served_ids(self) -> set[str]:
        return {o.request_id for o in self.outcomes if o.served}


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


@dataclass
class Logged:
    rows: int
    distinct: int  # distinct (request id, game id): equals rows when nothing is duplicated
    request_ids: set[str]


async def logged(dsn: str, prefix: str) -> Logged:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT request_id, game_id FROM prediction_log WHERE request_id LIKE $1",
            f"{prefix}-%",
        )
    finally:
        await conn.close()
    pairs = {(r["request_id"], r["game_id"]) for r in rows}
    return Logged(len(rows), len(pairs), {r["request_id"] for r in rows})


async def wait_logged(dsn: str, prefix: str, expected: int, seconds: float = 60) -> Logged:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = await logged(dsn, prefix)
            if found.rows >= expected or time.monotonic() > deadline:
                return found
        except OSError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.25)
