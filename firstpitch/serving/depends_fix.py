"""Work-arounds for two defects of BentoML 1.4.40's ``bentoml.depends()`` client.

1. Sessions closed under in-flight requests (bentoml/BentoML#5540; #5541 fixed only the
   shared connector). ``SessionManager.get_session`` refreshes the aiohttp session every 100
   requests or 5 minutes by *closing* the current one, while other coroutines are still
   sending on it or reading its responses: they fail with "Session is closed" or a
   disconnect, and the caller answers 500. We retire the old session instead and close it
   only after the client timeout, when every request that could be using it has finished.
2. Stale pooled connections: aiohttp keeps idle connections 15 s while uvicorn drops them
   after 5 s, so a request can go out on a connection the server has just closed
   (bentoml/BentoML#4971). Our connectors keep idle connections at most 4 s.

``apply()`` is idempotent and is called when the API service module is imported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

log = logging.getLogger(__name__)
KEEPALIVE_S = 4.0
_applied = False
ORIGINALS: dict[str, Any] = {}  # the library's own methods, kept for tests and comparison


def apply() -> None:
    global _applied
    if _applied:
        return
    import aiohttp
    from _bentoml_impl.client import proxy2

    manager = proxy2.SessionManager
    original_make = manager._make_client
    ORIGINALS.update(make_client=manager._make_client, get_session=manager.get_session)

    def _make_client(self: Any) -> aiohttp.ClientSession:
        """As the library's, but with a keep-alive shorter than the server's."""
        if self._app is not None:
            return cast(aiohttp.ClientSession, original_make(self))
        url = self._parsed_url
        connector: aiohttp.BaseConnector
        if url.scheme == "file":
            connector = aiohttp.UnixConnector(
                path=proxy2.uri_to_path(url.geturl()), keepalive_timeout=KEEPALIVE_S
            )
            base = "http://127.0.0.1:3000"
        else:
            connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S)
            base = f"http://{url.netloc}" if url.scheme == "tcp" else url.geturl()
        return aiohttp.ClientSession(
            base_url=base, headers=self._headers, timeout=self._timeout, connector=connector
        )

    async def get_session(self: Any) -> aiohttp.ClientSession:
        if self._session is None or self._should_refresh():
            old = self._session
            self._session = self._make_client()
            self._created_at = time.monotonic()
            self._request_count = 0
            if old is not None:
                grace = (self._timeout.total or 30.0) + 1.0
                loop = asyncio.get_running_loop()
                loop.call_later(grace, lambda: asyncio.ensure_future(old.close()))
        self._request_count += 1
        return cast(aiohttp.ClientSession, self._session)

    manager._make_client = _make_client
    manager.get_session = get_session
    _applied = True
    log.debug("applied bentoml depends() client fixes")
