"""The ASGI guards' own logic, on a stand-in app: shedding, body limits, CORS, key parsing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from firstpitch.api.app import create_app
from firstpitch.api.body_limit import BodyLimit
from firstpitch.api.guards import bearer_token, required_scope
from firstpitch.api.shedding import Capacity, LoadShedder
from firstpitch.serve import auth_for
from firstpitch.settings import Settings


class SlowApp:
    """Echoes the body it received, after holding the request for a while."""

    def __init__(self, hold: float = 0.2) -> None:
        self.hold = hold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await asyncio.sleep(self.hold)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_shedder_turns_away_what_exceeds_the_limit_at_once() -> None:
    capacity = Capacity(3, 1)
    shedder = LoadShedder(SlowApp(hold=0.3), capacity, keyed=False)
    async with _client(shedder) as client:
        results = await asyncio.gather(*(client.post("/api/v1/predict") for _ in range(10)))
        probe = await client.get("/health/live")
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 3 + [503] * 7
    shed = next(r for r in results if r.status_code == 503)
    assert shed.json()["error"] == "overloaded" and shed.headers["retry-after"] == "1"
    assert shed.elapsed.total_seconds() < 0.3  # answered before the accepted ones finish
    assert probe.status_code == 200 and capacity.peak == 3 and capacity.in_flight == 0
    assert capacity.saturated()  # it has just shed


class Keyed:
    """Marks requests carrying ``x-key`` as having passed access control."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if dict(scope["headers"]).get(b"x-key"):
            scope.setdefault("state", {})["api_key"] = object()
        await self.app(scope, receive, send)


async def test_traffic_without_a_key_has_its_own_budget() -> None:
    capacity = Capacity(4, 2)
    app = Keyed(LoadShedder(SlowApp(hold=0.3), capacity, keyed=True))
    async with _client(app) as client:
        anon = [client.post("/api/v1/predict") for _ in range(6)]
        other = [client.get("/health") for _ in range(6)]
        keyed = [client.post("/api/v1/predict", headers={"x-key": "1"}) for _ in range(4)]
        results = await asyncio.gather(*anon, *other, *keyed)
    assert [r.status_code for r in results[-4:]] == [200] * 4  # the API budget is whole
    assert sorted(r.status_code for r in results[:-4]).count(200) == 2
    assert not capacity.saturated()  # the API budget never shed


async def test_streams_have_a_budget_of_their_own() -> None:
    capacity = Capacity(2, 1, stream_limit=3)
    app = Keyed(LoadShedder(SlowApp(hold=0.3), capacity, keyed=True))
    async with _client(app) as client:
        streams = [client.get("/api/v1/stream", headers={"x-key": "1"}) for _ in range(5)]
        keyed = [client.post("/api/v1/predict", headers={"x-key": "1"}) for _ in range(2)]
        results = await asyncio.gather(*streams, *keyed)
    assert sorted(r.status_code for r in results[:5]) == [200] * 3 + [503] * 2
    assert [r.status_code for r in results[5:]] == [200] * 2  # open streams used none of it
    assert capacity.streams == 0 and capacity.peak == 2 and not capacity.saturated()


class SlowBody:
    """Receives a body a chunk at a time, ``gap`` seconds apart, as a slow client sends it."""

    def __init__(self, chunks: int, gap: float) -> None:
        self.chunks, self.gap = chunks, gap

    async def __call__(self) -> Any:
        for _ in range(self.chunks):
            await asyncio.sleep(self.gap)
            yield b"a"


async def test_body_limit() -> None:
    guard = BodyLimit(SlowApp(hold=0), max_bytes=100, timeout_s=5, takes_body={("POST", "/x")})
    async with _client(guard) as client:
        ok = await client.post("/x", content=b"a" * 100)
        assert ok.status_code == 200 and ok.content == b"a" * 100  # passed on intact
        big = await client.post("/x", content=b"a" * 101)
        assert big.status_code == 413 and big.json()["error"] == "too_large"

        async def chunks() -> Any:  # no Content-Length: counted as it streams
            for _ in range(5):
                yield b"b" * 30

        streamed = await client.post("/x", content=chunks())
        assert streamed.status_code == 413
        lying = await client.post("/x", content=b"{}", headers={"content-length": "abc"})
        assert lying.status_code == 400
        assert (await client.get("/x")).status_code == 200


async def _ok(request: Request) -> Response:
    return Response("ok")


async def test_bodies_only_where_taken_and_within_the_deadline() -> None:
    routes = [Route("/health", _ok, methods=["GET"]), Route("/x", _ok, methods=["POST"])]
    guard = BodyLimit(SlowApp(hold=0), max_bytes=100, timeout_s=0.3,
                      takes_body={("POST", "/x")}, routes=routes)  # fmt: skip
    async with _client(guard) as client:
        refused = await client.request("GET", "/health", content=b"a")  # takes none: 413
        assert refused.status_code == 413
        assert refused.json()["message"] == "this operation takes no request body"
        assert refused.headers["connection"] == "close"
        for method, path in (("POST", "/health"), ("GET", "/x"), ("POST", "/nope")):
            # No such operation: the app answers (404/405) without the body ever being read.
            unread = await client.request(method, path, content=SlowBody(chunks=50, gap=0.05)())
            assert unread.status_code == 200 and unread.content == b"", (method, path)
            assert unread.headers["connection"] == "close"
            assert unread.elapsed.total_seconds() < 0.5
        assert (await client.get("/health")).status_code == 200  # no body: passed on
        started = asyncio.get_running_loop().time()
        slow = await client.post("/x", content=SlowBody(chunks=50, gap=0.05)())
        assert slow.status_code == 408 and slow.json()["error"] == "request_timeout"
        assert asyncio.get_running_loop().time() - started < 1.0
        quick = await client.post("/x", content=SlowBody(chunks=3, gap=0.05)())
        assert quick.status_code == 200 and quick.content == b"aaa"


async def test_a_body_route_with_a_path_parameter_takes_its_body() -> None:
    routes = [Route("/feed/{kind}", _ok, methods=["POST"]), Route("/x", _ok, methods=["GET"])]
    guard = BodyLimit(SlowApp(hold=0), max_bytes=100, timeout_s=1,
                      takes_body={("POST", "/feed/{kind}")}, routes=routes)  # fmt: skip
    async with _client(guard) as client:
        fed = await client.post("/feed/odds", content=b"abc")
        assert fed.status_code == 200 and fed.content == b"abc"
        assert (await client.post("/feed/odds", content=b"a" * 101)).status_code == 413
        assert (await client.request("GET", "/x", content=b"a")).status_code == 413


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer fpk_1")], "fpk_1"),
        ([(b"authorization", b"bearer  fpk_1 ")], "fpk_1"),
        ([(b"x-api-key", b"fpk_2")], "fpk_2"),
        ([(b"authorization", b"Basic abc")], None),
        ([(b"authorization", b"Bearer ")], None),
        ([], None),
    ],
)
def test_bearer_token(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    assert bearer_token({"headers": headers}) == token


def test_scope_of_each_route() -> None:
    assert required_scope("/api/v1/predict") == "predictions"
    assert required_scope("/api/v1/predict/batch") == "predictions"
    assert required_scope("/api/v1/predictions/today") == "predictions"
    assert required_scope("/api/v1/models/leaderboard") == "models"
    assert required_scope("/api/v1/stream") == "predictions"
    assert required_scope("/health") is None


async def test_cors_allows_only_configured_origins() -> None:
    app = create_app(Settings(cors_origins=["https://app.example"]))  # type: ignore[call-arg]
    preflight = {"access-control-request-method": "POST",
                 "access-control-request-headers": "authorization,content-type"}  # fmt: skip
    async with _client(app) as client:
        allowed = await client.options(
            "/api/v1/predict", headers=preflight | {"origin": "https://app.example"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options(
            "/api/v1/predict", headers=preflight | {"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_auth_off_warns_and_is_only_implicit_in_the_demo(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(Settings(auth_enabled=False))  # type: ignore[call-arg]
    assert "API authentication is OFF" in caplog.text
    on = Settings()
    assert auth_for(on, {"postgres": False, "redis": False}, {}) is False  # the embedded demo
    assert auth_for(on, {"postgres": False, "redis": False}, {"FIRSTPITCH_AUTH_ENABLED": "1"})
    assert auth_for(on, {"postgres": True, "redis": False}, {}) is True  # production: on
