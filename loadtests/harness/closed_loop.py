"""A closed-loop load driver in this process: concurrent httpx clients posting predictions
until stopped, every outcome recorded (when it started, how long it took, the status or the
transport error, the request id, the games it stood for). The fault tests and the container
runs drive their services with it; ``prediction_log.py`` finds what reached the log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


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
