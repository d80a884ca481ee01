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
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"stream refused: {status} {body}")
        self.status, self.body = status, body


async def stream_events(
    http: httpx.AsyncClient,
    params: Mapping[str, Any] | None = None,
    last_event_id: str | None = None,
    on_open: Any = None,
) -> AsyncIterator[StreamEvent]:
    """The stream's events as they arrive (comments skipped); ends when the server ends it.
    ``on_open(response)`` is called once the response has started (e.g. to find the
    connection's local address)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with http.stream("GET", PATH, params=params, headers=headers) as response:
        if response.status_code != 200:
            body = await response.aread()
            try:
                raise StreamRefused(response.status_code, orjson.loads(body))
            except orjson.JSONDecodeError:
                raise StreamRefused(response.status_code, body.decode(errors="replace")) from None
        if on_open is not None:
            on_open(response)
        event, ident, data = "message", None, list[str]()
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    text = "\n".join(data)
                    yield StreamEvent(event, ident, orjson.loads(text), time.time())
                event, ident, data = "message", None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                ident = value


def client_port(response: httpx.Response) -> int | None:
    """The local port of the connection a response arrived on."""
    stream = response.extensions.get("network_stream")
    addr = stream.get_extra_info("client_addr") if stream is not None else None
    return int(addr[1]) if addr else None
