"""Play a timeline through a running service's public API: move its clock to each moment
(``POST /api/v1/clock``, which the service must allow), then post that moment's records
(``POST /api/v1/feed/{kind}``). ``speed`` 0 plays as fast as the service answers; N plays
N times faster than the season did, sleeping at most ``max_wait_s`` between moments."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ingest.feed_records import API_BATCH
from replay.timeline import Event, steps


class ReplayError(RuntimeError):
    """The service refused a post (the answer's status and body say why)."""


@dataclass
class ReplayReport:
    events: int = 0
    posts: int = 0
    clock_moves: int = 0
    elapsed_s: float = 0.0
    events_per_s: float = 0.0
    first: str | None = None
    last: str | None = None
    by_kind: dict[str, int] = field(default_factory=dict)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RETRIES = 30  # a rate-limited (429) or overloaded (503) post waits its Retry-After


async def _post(client: httpx.AsyncClient, path: str, body: Any, what: str) -> dict[str, Any]:
    for _ in range(RETRIES):
        resp = await client.post(path, json=body)
        if resp.status_code not in (429, 503):
            break
        await asyncio.sleep(min(10.0, float(resp.headers.get("retry-after", "1"))))
    if resp.status_code != 200:
        raise ReplayError(f"{what}: HTTP {resp.status_code}: {resp.text[:2000]}")
    answer: dict[str, Any] = resp.json()
    return answer


async def play(
    client: httpx.AsyncClient,
    events: list[Event],
    *,
    speed: float = 0.0,
    max_wait_s: float = 2.0,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    report = ReplayReport(events=len(events), by_kind=dict(Counter(e.kind for e in events)))
    started = time.perf_counter()
    clock: datetime | None = None
    for at, kind, records in steps(events):
        if at != clock:
            if speed > 0 and clock is not None:
                await asyncio.sleep(min(max_wait_s, (at - clock).total_seconds() / speed))
            await _post(client, "/api/v1/clock", {"now": at.isoformat()}, "clock")
            clock = at
            report.clock_moves += 1
        for i in range(0, len(records), API_BATCH):
            chunk = records[i : i + API_BATCH]
            answer = await _post(
                client, f"/api/v1/feed/{kind}", {"records": chunk}, f"{kind} at {at.isoformat()}"
            )
            report.posts += 1
            report.inserted += answer["inserted"]
            report.updated += answer["updated"]
            report.unchanged += answer["unchanged"]
            if progress:
                progress(len(chunk))
    report.elapsed_s = round(time.perf_counter() - started, 3)
    report.events_per_s = round(len(events) / report.elapsed_s, 1) if report.elapsed_s else 0.0
    if events:
        report.first, report.last = events[0].at.isoformat(), events[-1].at.isoformat()
    return report
