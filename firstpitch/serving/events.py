"""The event bus: events published to the Redis Stream, and each worker's one reader fanning
them out to the worker's stream clients.

Types: ``prediction`` (a game re-predicted before its cutoff), ``odds`` (the frozen
prediction's recommendation re-priced at the current price, between the cutoff and first
pitch), ``status`` (postponed, rescheduled, ...), ``result`` (the final score and the settled
profit of the recommendation standing at the cutoff). An event's id is its stream id.

Fan-out: one task per worker reads the stream (``XREAD BLOCK``) and offers every event to
the worker's subscribers, each through a bounded queue. A subscriber that falls
``queue_size`` events behind is sent an ``end`` and dropped: a slow client never holds up
the reader or the others, and resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from firstpitch.serving.metrics import metrics
from firstpitch.serving.outages import REDIS, OutageLog
from storage.event_stream import Entry, EventStream, parse_id
from storage.redis import UNREACHABLE

log = logging.getLogger(__name__)
outages = OutageLog(log)
TYPES = ("prediction", "odds", "status", "result")


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    game_id: str
    game_date: str
    edge: float | None  # the best edge of its recommendations (prediction and odds events)
    payload: str  # JSON, one line

    @property
    def key(self) -> tuple[int, int]:
        return parse_id(self.id)

    @classmethod
    def from_entry(cls, entry: Entry) -> Event:
        f = entry.fields
        edge = f.get(b"e", b"")
        return cls(entry.id, f[b"t"].decode(), f[b"g"].decode(), f[b"d"].decode(),
                   float(edge) if edge else None, f[b"p"].decode())  # fmt: skip


def fields(type_: str, game_id: str, game_date: str, edge: float | None,
           payload: dict[str, Any]) -> dict[str, str | bytes]:  # fmt: skip
    """The stream entry of an event (its id is given by Redis)."""
    body = {"type": type_, "game_id": game_id, "game_date": game_date} | payload
    return {"t": type_, "g": game_id, "d": game_date, "e": "" if edge is None else repr(edge),
            "p": orjson.dumps(body)}  # fmt: skip


@dataclass(frozen=True)
class Filter:
    """What a client asked for: games, a date, event types, a minimum edge (which only
    events carrying recommendations — prediction and odds — have to meet)."""

    game_ids: frozenset[str] = frozenset()
    date: str | None = None
    types: frozenset[str] = frozenset()
    min_edge: float | None = None

    def __call__(self, event: Event) -> bool:
        if self.game_ids and event.game_id not in self.game_ids:
            return False
        if self.date is not None and event.game_date != self.date:
            return False
        if self.types and event.type not in self.types:
            return False
        if self.min_edge is not None and event.type in ("prediction", "odds"):
            return event.edge is not None and event.edge >= self.min_edge
        return True


@dataclass(frozen=True)
class End:
    """The last thing a subscriber receives: why its stream ends."""

    reason: str  # shutdown, slow_consumer


@dataclass(frozen=True)
class Missed:
    """Events after ``after`` were trimmed before this worker could read them."""

    after: str


@dataclass(eq=False)  # each subscriber is its own (hashed by identity)
class Subscriber:
    accepts: Callable[[Event], bool]
    queue: asyncio.Queue[Event | End | Missed] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def offer(self, item: Event | End | Missed) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    def end(self, reason: str) -> None:
        """Replace whatever waits with the final ``end`` (the client resumes by id)."""
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(End(reason))


class Hub:
    """One worker's reader of the stream and its subscribers."""

    def __init__(self, stream: EventStream, queue_size: int, block_ms: int = 1000) -> None:
        self.stream, self.queue_size, self.block_ms = stream, queue_size, block_ms
        self.subscribers: set[Subscriber] = set()
        self.draining = False
        self.last_id: str | None = None

    def subscribe(self, accepts: Callable[[Event], bool]) -> Subscriber:
        sub = Subscriber(accepts, asyncio.Queue(maxsize=self.queue_size))
        self.subscribers.add(sub)
        metrics().stream_clients.inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            metrics().stream_clients.dec()

    def deliver(self, item: Event | Missed) -> None:
        for sub in list(self.subscribers):
            if sub.closed or (isinstance(item, Event) and not sub.accepts(item)):
                continue
            if not sub.offer(item):
                metrics().stream_dropped.labels("slow_consumer").inc()
                sub.end("slow_consumer")

    def close(self) -> None:
        """Graceful shutdown: every stream of this worker ends now (and no new one opens)."""
        self.draining = True
        for sub in list(self.subscribers):
            sub.end("shutdown")

    async def run(self) -> None:
        """Read the stream for as long as the worker lives; after an outage carry on from the
        last event read, telling subscribers if anything was trimmed meanwhile."""
        failed = False
        while True:
            try:
                if self.last_id is None:
                    self.last_id = await self.stream.last_id()
                if failed and await self.stream.missed_after(self.last_id):
                    self.deliver(Missed(self.last_id))
                failed = False
                entries = await self.stream.read_after(self.last_id, self.block_ms, 1000)
            except (*UNREACHABLE, OSError) as exc:
                failed = True
                outages.warn(REDIS, "stream reader waiting", exc)
                await asyncio.sleep(0.5)
                continue
            except Exception:  # a defect: logged with its traceback, and the reader goes on
                log.exception("stream reader failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for entry in entries:
                self.last_id = entry.id
                try:
                    event = Event.from_entry(entry)
                except (KeyError, ValueError):
                    log.error("stream entry %s is not an event; skipped", entry.id)
                    continue
                self.deliver(event)
