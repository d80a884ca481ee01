"""Graceful shutdown for responses that never end by themselves (event streams).

On SIGTERM uvicorn stops accepting, then waits for every open response to complete before
it runs the application's shutdown hooks — an event stream would hold it there until the
orchestrator's kill. ``install()`` wraps ``uvicorn.Server.shutdown`` so that the callbacks
registered with ``on_drain`` (the stream hub's ``close``: a final ``end`` event to every
client) run first, in the worker's loop, before uvicorn starts waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_callbacks: list[Callable[[], None]] = []
_installed = False


def on_drain(callback: Callable[[], None]) -> None:
    _callbacks.append(callback)


def drain() -> None:
    for callback in list(_callbacks):
        try:
            callback()
        except Exception:
            log.exception("a shutdown callback failed")


def install() -> None:
    global _installed
    if _installed:
        return
    import uvicorn

    original = uvicorn.Server.shutdown

    async def shutdown(self: Any, sockets: Any = None) -> None:
        drain()
        await original(self, sockets)

    uvicorn.Server.shutdown = shutdown  # type: ignore[method-assign]
    _installed = True
