"""Work-arounds for defects of BentoML 1.4.40 that would otherwise reach our clients.

1. Sessions closed under in-flight requests (bentoml/BentoML#5540; #5541 fixed only the
   shared connector). ``SessionManager.get_session`` refreshes the aiohttp session every 100
   requests or 5 minutes by *closing* the current one, while other coroutines are still
   sending on it or reading its responses: they fail with "Session is closed" or a
   disconnect, and the caller answers 500. We retire the old session instead and close it
   only after the client timeout, when every request that could be using it has finished.
2. Stale pooled connections: aiohttp keeps idle connections 15 s while uvicorn drops them
   after 5 s, so a request can go out on a connection the server has just closed
   (bentoml/BentoML#4971). Our connectors keep idle connections at most 4 s.

3. A 30-second timer per request that is never cancelled: ``TimeoutMiddleware`` calls
   ``loop.call_later(timeout, ...)`` and drops the handle, so at 1,000 req/s some 30,000
   timer handles stay alive, each holding its request's future and context (with the
   tracing span). That keeps the young heap at 150-300k objects, and each collection of it
   stalled the event loop 65-200 ms (measured with a gc callback). We cancel the timer as
   soon as the request is done, which frees all of it at once.

4. Metrics labelled by raw path: ``RunnerTrafficMetricsMiddleware`` uses ``scope["path"]`` as
   the ``endpoint`` label, so every unknown path a client makes up is a new series (300
   random paths took /metrics from 6.6 KB to 1.16 MB; 50 paths of 60 KB wrote 108 MiB of
   multiprocess files; a scrape after 4,000 such requests took 4.3 s), and the labels showed
   other clients' game ids. The label becomes the matched route template or "unmatched"
   (``route_labels``), so the series are bounded by the routes.
5. Redirects built from ``Host``: BentoML's Starlette router redirects ``/path/`` to an
   absolute ``http://<Host>/path`` (307), so any client can make us answer a redirect to a
   host of its choosing. Its ``redirect_slashes`` is turned off (as is our FastAPI app's).

6. A tracing span per ASGI message: BentoML's ``OpenTelemetryMiddleware`` opens a child span
   around every ``receive`` and every ``send`` (three or more a request) besides the
   request's own, even when nothing is sampled. Each is a context attach and detach and
   attribute work: BentoML's empty route did 14-22 % more req/s without them
   (``run_compare.py --only bentoml``, four alternating runs). The request's span stays
   (it gives the request id and the trace); its per-message children are left out.
7. Tracing work where nothing is traced: with no tracing exporter configured (BentoML's
   default) the same middleware still extracts the context from the headers, collects the
   request's attributes, makes a span and records OpenTelemetry metrics for every request,
   all dropped: 50-66 % more req/s for the empty route and 32-42 % for the ceiling peer
   without it (four alternating runs, as above). It passes requests straight on unless its
   tracer provider has a span processor, i.e. unless ``tracing.exporter_type`` is set.

``apply()`` is idempotent and is called when the service modules are imported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from runners import route_labels

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
    _cancel_request_timers()
    _label_by_route()
    _no_slash_redirects()
    _lean_tracing()
    _applied = True
    log.debug("applied bentoml depends() client fixes")


def _lean_tracing() -> None:
    """Fixes 6 and 7: the request's span, without one more per ASGI message; and no tracing
    work at all where no span can leave the process."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    original_init = OpenTelemetryMiddleware.__init__
    original_call = OpenTelemetryMiddleware.__call__
    ORIGINALS.update(otel_init=original_init, otel_call=original_call)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exclude_spans", ["receive", "send"])
        original_init(self, *args, **kwargs)
        self.fp_exports = exports_spans(kwargs.get("tracer_provider"))

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if getattr(self, "fp_exports", True):  # one made by the library's own __init__: trace
            await original_call(self, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    OpenTelemetryMiddleware.__init__ = __init__  # type: ignore[method-assign]
    OpenTelemetryMiddleware.__call__ = __call__  # type: ignore[method-assign]


def exports_spans(provider: Any) -> bool:
    """Whether a tracer provider can send a span anywhere: BentoML's adds a span processor
    only when a tracing exporter is configured (``tracing.exporter_type``); without one
    (the default) every span it makes is dropped on the spot. A provider of another kind
    (or none: the global one) is assumed to export."""
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(provider, TracerProvider):
        return True
    processors = getattr(provider._active_span_processor, "_span_processors", None)
    return processors is None or len(processors) > 0


def _cancel_request_timers() -> None:
    from bentoml._internal.server.http import traffic

    middleware = traffic.TimeoutMiddleware
    ORIGINALS["timeout_call"] = middleware.__call__

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                from starlette.responses import JSONResponse

                resp = JSONResponse(
                    {"error": f"Not able to process the request in {self.timeout} seconds"},
                    status_code=504,
                )
                await resp(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()  # the one line the library misses

    middleware.__call__ = __call__  # type: ignore[method-assign]


class _ByRoute:
    """A metric whose ``endpoint`` label is mapped to its route template."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def labels(self, *args: Any, **kwargs: Any) -> Any:
        if "endpoint" in kwargs:
            kwargs["endpoint"] = route_labels.labels(str(kwargs["endpoint"]))
        return self.metric.labels(*args, **kwargs)


def _label_by_route() -> None:
    from bentoml._internal.context import server_context
    from bentoml._internal.server.http import instruments

    middleware = instruments.RunnerTrafficMetricsMiddleware
    original_setup = middleware._setup
    ORIGINALS["metrics_setup"] = original_setup

    def _setup(self: Any) -> None:
        route_labels.labels.add(server_context.service_routes)
        original_setup(self)
        for name in list(vars(self)):
            if name.startswith("metrics_") and name != "metrics_client":
                metric = getattr(self, name)
                if "endpoint" in getattr(metric, "_labelnames", ()):
                    setattr(self, name, _ByRoute(metric))

    middleware._setup = _setup  # type: ignore[method-assign,assignment]


def _no_slash_redirects() -> None:
    from _bentoml_impl.server.app import ServiceAppFactory

    original_call = ServiceAppFactory.__call__
    ORIGINALS["app_factory_call"] = original_call

    def __call__(self: Any) -> Any:
        app = original_call(self)
        app.router.redirect_slashes = False
        return app

    ServiceAppFactory.__call__ = __call__  # type: ignore[method-assign]
