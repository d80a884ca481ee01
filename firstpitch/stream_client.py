"""A client of ``GET /api/v1/stream`` (Server-Sent Events over httpx), for the tests, the
benchmark and the season replay.

    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=None) as http:
        async for event in stream_events(http, {"type": ["prediction", "odds"]}):
            if event.event == "ready":
                ...  # subscribed: nothing published from now on is missed
            elif event.id is not None:
                ...  # prediction, odds, status, result: event.data is the JSON payload

``last_event_id`` resumes after that event. A refusal (401, 403, 422, 429, 503) raises
``StreamRefused`` with the status and the JSON error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

PATH = "/api/v1/stream"


@dataclass(frozen=True)
class StreamEvent:
    event: str
    id: str | None
    data: Any
    received: float  # time.time() when its last line arrived


class StreamRefused(Exception):
    def __init__(self, status: int, body: Any, headers: httpx.Headers | None = None) -> None:
        super().__init__(f"stream refused: {status} {body}")
        self.status, self.body = status, body
        self.headers = headers if headers is not None else httpx.Headers()


class EventParser:
    """Server-Sent Events, a line at a time (comments skipped): ``line`` returns the event a
    blank line completes, else None. Used by the async reader below and the typed client's
    synchronous one."""

    def __init__(self) -> None:
        self.event, self.data = "message", list[str]()
        self.id: str | None = None

    def line(self, line: str) -> StreamEvent | None:
        if line == "":
            done = None
            if self.data:
                done = StreamEvent(
                    self.event, self.id, orjson.loads("\n".join(self.data)), time.time()
                )
            self.event, self.id, self.data = "message", None, []
            return done
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        elif name == "id":
            self.id = value
        return None


def refusal(response: httpx.Response, body: bytes) -> StreamRefused:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = body.decode(errors="replace")
    return StreamRefused(response.status_code, parsed, response.headers)


async def stream_events(
    http: httpx.AsyncClient,
    params: Mapping[str, Any] | None = None,
    last_event_id: str | None = None,
    on_open: Any = None,
    http_timeout: httpx.Timeout | None = None,
) -> AsyncIterator[StreamEvent]:
    """The stream's events as they arrive (comments skipped); ends when the server ends it.
    ``on_open(response)`` is called once the response has started (e.g. to find the
    connection's local address). ``http_timeout``: instead of the client's."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    timed: Any = {"timeout": http_timeout} if http_timeout is not None else {}
    async with http.stream("GET", PATH, params=params, headers=headers, **timed) as response:
        if response.status_code != 200:
            raise refusal(response, await response.aread())
        if on_open is not None:
            on_open(response)
        parser = EventParser()
        async for line in response.aiter_lines():
            event = parser.line(line)
            if event is not None:
                yield event


def client_port(response: httpx.Response) -> int | None:
    """The local port of the connection a response arrived on."""
    stream = response.extensions.get("network_stream")
    addr = stream.get_extra_info("client_addr") if stream is not None else None
    return int(addr[1]) if addr else None
