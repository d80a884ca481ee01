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
from replay.timeline import CUTOFF, Event, steps

PREDICT_BATCH = 50
REQUEST_PREFIX = "replay-cutoff"  # X-Request-ID of the predictions asked for at cutoffs


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
    predictions: int = 0  # asked for at games' cutoffs
    published: int = 0  # events the feed posts set off (the feed answers' ``events``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RETRIES = 30  # a rate-limited (429) or overloaded (503) post waits its Retry-After


async def post(
    client: httpx.AsyncClient,
    path: str,
    body: Any,
    what: str,
    headers: dict[str, str] | None = None,
) -> Any:
    for _ in range(RETRIES):
        resp = await client.post(path, json=body, headers=headers)
        if resp.status_code not in (429, 503):
            break
        await asyncio.sleep(min(10.0, float(resp.headers.get("retry-after", "1"))))
    if resp.status_code != 200:
        raise ReplayError(f"{what}: HTTP {resp.status_code}: {resp.text[:2000]}")
    return resp.json()


async def play(
    client: httpx.AsyncClient,
    events: list[Event],
    *,
    speed: float = 0.0,
    max_wait_s: float = 2.0,
    progress: Callable[[int], None] | None = None,
    on_answer: Callable[[str, float, dict[str, Any]], None] | None = None,
) -> ReplayReport:
    """``on_answer(kind, sent_at, answer)`` sees every feed answer (``sent_at``: time.time()
    just before the post), e.g. to time its events to a stream client."""
    report = ReplayReport(events=len(events), by_kind=dict(Counter(e.kind for e in events)))
    started = time.perf_counter()
    clock: datetime | None = None
    for at, kind, records in steps(events):
        if at != clock:
            if speed > 0 and clock is not None:
                await asyncio.sleep(min(max_wait_s, (at - clock).total_seconds() / speed))
            await post(client, "/api/v1/clock", {"now": at.isoformat()}, "clock")
            clock = at
            report.clock_moves += 1
        if kind == CUTOFF:
            for i in range(0, len(records), PREDICT_BATCH):
                ids = [r["game_id"] for r in records[i : i + PREDICT_BATCH]]
                rid = {"X-Request-ID": f"{REQUEST_PREFIX}-{at:%Y%m%dT%H%M}-{i}"}
                answers = await post(client, "/api/v1/predict/batch", {"game_ids": ids},
                                      f"predictions at {at.isoformat()}", rid)  # fmt: skip
                report.predictions += len(answers)
            continue
        for i in range(0, len(records), API_BATCH):
            chunk = records[i : i + API_BATCH]
            sent = time.time()
            answer = await post(
                client, f"/api/v1/feed/{kind}", {"records": chunk}, f"{kind} at {at.isoformat()}"
            )
            if on_answer:
                on_answer(kind, sent, answer)
            report.published += len(answer.get("events", ()))
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
