"""``GET /api/v1/stream``: the event stream as Server-Sent Events (FastAPI's own
``EventSourceResponse``), resumable with ``Last-Event-ID``.

A stream first sends ``ready`` (from then on nothing published is missed), then — on a
resume — every retained event after the given id (``XRANGE``), then live events (the
worker's hub), each once and in stream order: the live queue is joined before the backlog is
read, and whatever it holds at or before the last event sent is skipped. ``heartbeat``
events come when nothing else has for ``FIRSTPITCH_STREAM_HEARTBEAT_S``; ``missed`` says the
resume id is older than the retention (or unknown); ``end`` is the last event (shutdown,
``max_seconds``, or a client too slow to keep up). Only ``prediction``, ``odds``, ``status``
and ``result`` carry an id, so a reconnecting client resumes after the last of those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from firstpitch.api.deps import ERRORS, Runtime
from firstpitch.api.schemas import GameId
from firstpitch.serving.errors import TooManyStreams, Unavailable
from firstpitch.serving.events import End, Event, Filter, Missed, Subscriber
from firstpitch.serving.runtime import ApiRuntime
from storage.event_stream import parse_id

router = APIRouter()
STREAM_ID = r"^[0-9]{1,15}(-[0-9]{1,15})?$"  # "<ms>" alone is "<ms>-0", as in Redis
PAGE = 500
EventType = Literal["prediction", "odds", "status", "result"]
# Refusals are JSON, not events: declared as such (FastAPI would give them the route's media
# type, text/event-stream).
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": "refused (JSON error body)",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for code in ERRORS
}  # fmt: skip


def _sse(event: str, data: dict[str, Any], id: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event, raw_data=orjson.dumps(data).decode(), id=id)


def _of(event: Event) -> ServerSentEvent:
    return ServerSentEvent(event=event.type, raw_data=event.payload, id=event.id)


class Lease:
    """The stream's place among its key's open streams (none without keys)."""

    def __init__(self, rt: ApiRuntime, key_id: str | None, lease: str | None) -> None:
        self.rt, self.key_id, self.lease = rt, key_id, lease
        self.renewed = time.monotonic()

    async def renew(self) -> None:
        every = self.rt.settings.stream_heartbeat_s
        if self.key_id and self.lease and time.monotonic() - self.renewed >= every:
            self.renewed = time.monotonic()
            await self.rt.leases.renew(self.key_id, self.lease)


async def open_stream(request: Request, rt: Runtime) -> AsyncIterator[Lease]:
    """Refuse before the response starts: draining (503), the key's streams (429)."""
    if rt.hub.draining:
        raise Unavailable("the server is shutting down; reconnect (with Last-Event-ID)")
    key = getattr(request.state, "api_key", None)
    if key is None:
        yield Lease(rt, None, None)
        return
    limit = rt.settings.stream_max_per_key
    lease = await rt.leases.acquire(key.key_id, limit)
    if lease is None:
        raise TooManyStreams(f"this API key already holds {limit} open streams; close one first", 5)
    try:
        yield Lease(rt, key.key_id, lease)
    finally:
        await rt.leases.release(key.key_id, lease)


@router.get(
    "/api/v1/stream",
    response_class=EventSourceResponse,
    responses=JSON_ERRORS,
    tags=["predictions"],
)
async def stream(
    rt: Runtime,
    lease: Annotated[Lease, Depends(open_stream)],
    game_id: Annotated[list[GameId] | None, Query(max_length=50)] = None,
    on_date: Annotated[date | None, Query(alias="date", description="games of this day")] = None,
    min_edge: Annotated[float | None, Query(ge=-1, le=1)] = None,
    type: Annotated[list[EventType] | None, Query(max_length=4)] = None,
    max_seconds: Annotated[
        float | None, Query(gt=0, le=86_400, description="close the stream after this long")
    ] = None,
    after: Annotated[str | None, Query(pattern=STREAM_ID, description="as Last-Event-ID")] = None,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: `prediction`, `odds`, `status`, `result` (each with its stream
    id), and `ready`, `heartbeat`, `missed`, `end`. Filters: `game_id` (repeatable), `date`,
    `type` (repeatable), `min_edge` (prediction and odds events only). `Last-Event-ID` (or
    `after`) resumes after that event."""
    accepts = Filter(frozenset(game_id or ()), on_date.isoformat() if on_date else None,
                     frozenset(type or ()), min_edge)  # fmt: skip
    resume = last_event_id or after
    limit = min(max_seconds or rt.settings.stream_max_seconds, rt.settings.stream_max_seconds)
    deadline = time.monotonic() + limit
    sub = rt.hub.subscribe(accepts)
    try:
        last = resume or rt.hub.last_id or await rt.events.last_id()
        yield _sse("ready", {"last_event_id": last, "server_time": _now()})
        if resume is not None:
            async for sent, read_up_to in _backlog(rt, resume, accepts):
                last = read_up_to
                if sent is not None:
                    yield sent
        async for sent in _live(sub, last, deadline, rt.settings.stream_heartbeat_s, lease):
            yield sent
    finally:
        rt.hub.unsubscribe(sub)


async def _backlog(
    rt: ApiRuntime, resume: str, accepts: Filter
) -> AsyncIterator[tuple[ServerSentEvent | None, str]]:
    """What was published after ``resume`` and is still retained, with the last id read."""
    if await rt.events.missed_after(resume):
        yield _sse("missed", {"after": resume, "reason": "older than the retention, "
                              "or not an id of this stream"}), resume  # fmt: skip
    last = resume
    while True:
        page = await rt.events.range_after(last, PAGE)
        for entry in page:
            event = Event.from_entry(entry)
            last = event.id
            yield (_of(event) if accepts(event) else None), last
        if len(page) < PAGE:
            return


async def _live(
    sub: Subscriber, last: str, deadline: float, beat: float, lease: Lease
) -> AsyncIterator[ServerSentEvent]:
    """The hub's events later than ``last``, heartbeats, and the final ``end``."""
    done = parse_id(last)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            yield _sse("end", {"reason": "max_seconds", "last_event_id": last})
            return
        try:
            async with asyncio.timeout(min(beat, left)):
                item = await sub.queue.get()
        except TimeoutError:
            if deadline - time.monotonic() > 0:
                yield _sse("heartbeat", {"server_time": _now(), "last_event_id": last})
            await lease.renew()
            continue
        if isinstance(item, End):
            yield _sse("end", {"reason": item.reason, "last_event_id": last})
            return
        if isinstance(item, Missed):
            yield _sse("missed", {"after": item.after, "reason": "trimmed while this server "
                                  "could not read the stream"})  # fmt: skip
        elif item.key > done:
            done, last = item.key, item.id
            yield _of(item)
            await lease.renew()


def _now() -> str:
    return datetime.now(UTC).isoformat()
