"""The depends() client's session refresh must not break requests still in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from runners import bentoml_fixes
from storage.embedded import free_port


async def _server() -> tuple[web.AppRunner, int]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/predict", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _burst(manager: Any, n: int) -> list[str]:
    async def one() -> str:
        session = await manager.get_session()
        try:
            async with session.post("/predict", json={}) as resp:
                await resp.json()
                return "ok"
        except (RuntimeError, aiohttp.ClientError) as exc:
            return type(exc).__name__

    return await asyncio.gather(*(one() for _ in range(n)))


async def _run(patched: bool) -> list[str]:
    from _bentoml_impl.client.proxy2 import SessionManager

    bentoml_fixes.apply()
    runner, port = await _server()
    manager = SessionManager(f"tcp://127.0.0.1:{port}", timeout=10, headers={}, max_requests=5)
    if not patched:  # the library's behaviour, for comparison
        manager.get_session = bentoml_fixes.ORIGINALS["get_session"].__get__(manager)
    try:
        return await _burst(manager, 200)
    finally:
        await manager.close()
        await runner.cleanup()


async def test_refresh_keeps_in_flight_requests_alive() -> None:
    results = await _run(patched=True)
    assert results.count("ok") == 200


async def test_the_library_alone_fails_them() -> None:
    """Documents the upstream defect: if this starts passing, the work-around can go."""
    results = await _run(patched=False)
    assert results.count("ok") < 200


@pytest.mark.parametrize("scheme", ["tcp", "file"])
def test_connectors_keep_idle_connections_shorter_than_the_server(scheme: str) -> None:
    from _bentoml_impl.client.proxy2 import SessionManager

    bentoml_fixes.apply()

    async def make() -> float:
        url = "tcp://127.0.0.1:1" if scheme == "tcp" else "file:///tmp/firstpitch-none.sock"
        session = SessionManager(url, timeout=5, headers={})._make_client()
        keepalive = session.connector._keepalive_timeout  # type: ignore[union-attr]
        await session.close()
        return float(keepalive)

    assert asyncio.run(make()) == bentoml_fixes.KEEPALIVE_S


async def test_request_timers_are_cancelled() -> None:
    """BentoML's TimeoutMiddleware leaves a 30 s timer per request; ours cancels it."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    bentoml_fixes.apply()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    loop = asyncio.get_running_loop()

    def live_timers() -> int:
        return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]

    middleware = TimeoutMiddleware(app, timeout=30)
    before = live_timers()
    for _ in range(50):
        await middleware({"type": "http"}, receive, send)
    assert live_timers() == before
    for _ in range(50):  # the library's own __call__, for comparison
        await bentoml_fixes.ORIGINALS["timeout_call"](middleware, {"type": "http"}, receive, send)
    assert live_timers() == before + 50


def test_http_metrics_are_labelled_by_route_template() -> None:
    """BentoML labels its HTTP metrics by raw path; the wrapped metrics by template."""
    from prometheus_client import CollectorRegistry, Counter

    from runners import route_labels

    route_labels.labels.add(["/api/v1/predict/{game_id}"])
    registry = CollectorRegistry()
    counter = bentoml_fixes._ByRoute(Counter("t", "t", ["endpoint", "code"], registry=registry))
    for path in ("/api/v1/predict/CIN202107040", "/api/v1/predict/NYA202107040", "/x" * 500):
        counter.labels(endpoint=path, code="200").inc()
    samples = {
        s.labels["endpoint"]: s.value for m in registry.collect() for s in m.samples
        if s.name == "t_total"
    }  # fmt: skip
    assert samples == {"/api/v1/predict/{game_id}": 2.0, "unmatched": 1.0}


SCOPE = {"type": "http", "method": "POST", "path": "/api/v1/predict", "headers": [],
         "scheme": "http", "server": ("127.0.0.1", 3000), "query_string": b"",
         "http_version": "1.1", "root_path": ""}  # fmt: skip


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    """An app that reads the body and answers 200 in two messages."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def test_requests_keep_their_span_without_one_per_asgi_message() -> None:
    """A request is one server span; the library's middleware would add a span around
    every receive and send."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    bentoml_fixes.apply()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def send(message: Any) -> None:
        return None

    await OpenTelemetryMiddleware(_answer, tracer_provider=provider)(dict(SCOPE), _body, send)
    assert [s.kind.name for s in exporter.get_finished_spans()] == ["SERVER"]
    exporter.clear()
    original = bentoml_fixes.ORIGINALS["otel_init"]
    library = OpenTelemetryMiddleware.__new__(OpenTelemetryMiddleware)
    original(library, _answer, tracer_provider=provider)
    await library(dict(SCOPE), _body, send)
    assert len(exporter.get_finished_spans()) == 4  # the request's, a receive's, two sends'


async def test_without_an_exporter_requests_pass_the_tracing_middleware_untouched() -> None:
    """BentoML's tracer provider without a configured exporter drops every span: the
    middleware then does no tracing work at all, and the request is answered as ever."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    bentoml_fixes.apply()
    exporting = TracerProvider()
    exporting.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert bentoml_fixes.exports_spans(exporting)
    assert not bentoml_fixes.exports_spans(TracerProvider())  # BentoML's default
    assert bentoml_fixes.exports_spans(None)  # the global provider: assumed to export

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    class NoTracing:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the tracer was used: {name}")

    middleware = OpenTelemetryMiddleware(_answer, tracer_provider=TracerProvider())
    middleware.tracer = NoTracing()
    await middleware(dict(SCOPE), _body, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    library = OpenTelemetryMiddleware.__new__(OpenTelemetryMiddleware)
    bentoml_fixes.ORIGINALS["otel_init"](library, _answer, tracer_provider=TracerProvider())
    library.tracer = NoTracing()
    with pytest.raises(AssertionError, match="the tracer was used"):
        await bentoml_fixes.ORIGINALS["otel_call"](library, dict(SCOPE), _body, send)
