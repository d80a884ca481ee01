"""Both clients against a real `bentoml serve`: BentoML's own (SyncHTTPClient,
AsyncHTTPClient) on the BentoML-native operations, and firstpitch.client on every REST
operation. Same answers as the REST routes for the same games, the same guards (keys,
scopes, rate limits, bad input), retries on 429, and the stream resumed after a drop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bentoml
import httpx
import pytest
from bentoml.exceptions import BentoMLException

from firstpitch.client import (
    AsyncFirstPitchClient,
    FirstPitchClient,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Retried,
    RetryPolicy,
    Unauthenticated,
)
from storage.postgres import connect
from tests.e2e.conftest import RunningService, admin_key, create_key

pytestmark = [pytest.mark.e2e]
GAME, OTHER = "CIN202107040", "SEA202107040"  # games of the pinned day (2021-07-04)
BENTO = "/api/v1/bento"


def same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal but for whether the answer came from the cache."""
    assert {k: v for k, v in a.items() if k != "cache_hit"} == {
        k: v for k, v in b.items() if k != "cache_hit"
    }


# ----------------------------------------------------------------------- BentoML's client
def test_bentoml_client_sees_and_calls_the_operations(
    service: RunningService, client: httpx.Client, ingested: str
) -> None:
    schema = client.get("/schema.json").json()
    assert {r["name"]: r["route"] for r in schema["routes"]} == {
        "predict": f"{BENTO}/predict",
        "predict_batch": f"{BENTO}/predict_batch",
        "predictions_today": f"{BENTO}/predictions_today",
    }
    rest = client.post("/api/v1/predict", json={"game_id": GAME, "include_explanation": True})
    assert rest.status_code == 200, rest.text
    batch = client.post("/api/v1/predict/batch", json={"game_ids": [GAME, OTHER]}).json()
    today = client.get("/api/v1/predictions/today", params={"min_confidence": 0.55}).json()
    with bentoml.SyncHTTPClient(service.url, token=admin_key(ingested), timeout=60) as bc:
        assert set(bc.endpoints) == {"predict", "predict_batch", "predictions_today"}
        one = bc.predict(game_id=GAME, include_explanation=True)
        assert one["explanation"]["top_features"]
        same(one, rest.json())
        both = bc.predict_batch(game_ids=[GAME, OTHER])
        assert [p["game_id"] for p in both] == [GAME, OTHER]
        for mine, theirs in zip(both, batch, strict=True):
            same(mine, theirs)
        day = bc.predictions_today(min_confidence=0.55)
        assert (day["date"], day["count"]) == ("2021-07-04", today["count"])
        for mine, theirs in zip(day["predictions"], today["predictions"], strict=True):
            same(mine, theirs)


async def test_bentoml_async_client(service: RunningService, ingested: str) -> None:
    async with bentoml.AsyncHTTPClient(service.url, token=admin_key(ingested)) as bc:
        out = await bc.predict(game_id=OTHER)
    assert out["game_id"] == OTHER and 0 < out["home_ml_probability"] < 1


def test_bentoml_operations_are_logged_like_rest(
    service: RunningService, client: httpx.Client, ingested: str
) -> None:
    rid = f"bento-log-{time.time_ns()}"
    resp = client.post(f"{BENTO}/predict", json={"game_id": GAME}, headers={"X-Request-ID": rid})
    assert resp.status_code == 200 and resp.headers["x-request-id"] == rid

    async def logged() -> list[Any]:
        conn = await connect(ingested)
        try:
            for _ in range(100):
                rows = await conn.fetch(
                    "SELECT game_id, endpoint FROM prediction_log WHERE request_id = $1", rid
                )
                if rows:
                    return [tuple(r) for r in rows]
                await asyncio.sleep(0.1)
            return []
        finally:
            await conn.close()

    assert asyncio.run(logged()) == [(GAME, "predict")]


def test_bentoml_operations_need_a_key_and_the_scope(
    service: RunningService, ingested: str
) -> None:
    with (
        bentoml.SyncHTTPClient(service.url) as anonymous,
        pytest.raises(BentoMLException) as refused,
    ):
        anonymous.predict(game_id=GAME)
    assert refused.value.error_code == 401
    assert '"error":"unauthenticated"' in str(refused.value)
    models_only = create_key(ingested, "bento-models", ("models",))
    with (
        bentoml.SyncHTTPClient(service.url, token=models_only) as bc,
        pytest.raises(BentoMLException) as forbidden,
    ):
        bc.predict(game_id=GAME)
    assert forbidden.value.error_code == 403
    raw = httpx.post(f"{service.url}{BENTO}/predict", json={"game_id": GAME}, timeout=30)
    assert raw.status_code == 401 and raw.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("route", "body", "status", "location"),
    [
        ("predict", b'{"game_id": "CIN20210704', 422, "body"),  # malformed JSON
        ("predict", b"[]", 422, "body"),
        ("predict", b'{"game_id": 7}', 422, "body.game_id"),
        ("predict", b'{"game_id": "cin202107040"}', 422, "body.game_id"),
        ("predict", b'{"game_id": "CIN202107040", "secret_field": 1}', 422, "body"),
        ("predict", b'{"game_id": "CIN202107040", "include_explanation": "yes"}', 422,
         "body.include_explanation"),
        ("predict_batch", b'{"game_ids": []}', 422, "body.game_ids"),
        ("predict_batch", b'{"game_ids": ["CIN202107040"' + b', "CIN202107040"' * 50 + b"]}",
         422, "body.game_ids"),
        ("predictions_today", b'{"min_confidence": 2}', 422, "body.min_confidence"),
        ("predict", b'{"game_id": "CIN202107040", "x": "' + b"a" * 70_000 + b'"}', 413, None),
        ("predict", b'{"game_id": "ZZZ202107040"}', 404, None),
    ],
)  # fmt: skip
def test_bad_input_to_bentoml_operations_is_a_precise_4xx(
    client: httpx.Client, route: str, body: bytes, status: int, location: str | None
) -> None:
    resp = client.post(f"{BENTO}/{route}", content=body,
                       headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == status, resp.text
    out = resp.json()
    assert set(out) <= {"error", "message", "request_id", "details"} and out["message"]
    assert "Traceback" not in resp.text and "secret_field" not in resp.text
    if location is not None:
        assert out["error"] == "validation_error"
        assert out["details"][0]["location"] == location


def test_rate_limits_count_games_through_the_bentoml_door(
    service: RunningService, ingested: str
) -> None:
    key = create_key(ingested, "bento-rate", ("predictions",), rate_limit=3)
    with bentoml.SyncHTTPClient(service.url, token=key) as bc:
        bc.predict_batch(game_ids=[GAME, OTHER])  # 2 of the 3
        with pytest.raises(BentoMLException) as limited:
            bc.predict_batch(game_ids=[GAME, OTHER])
    assert limited.value.error_code == 429 and '"rate_limited"' in str(limited.value)


# ----------------------------------------------------------------------- the typed client
def test_typed_client_covers_every_rest_operation(
    service: RunningService, client: httpx.Client, ingested: str
) -> None:
    """Each result is the API's model, and equals the REST route's own JSON asked at the
    same moment (model statistics first: predictions below add to their live counts)."""
    with FirstPitchClient(service.url, api_key=admin_key(ingested), timeout=60) as fp:
        calls: list[tuple[Callable[[], Any], str, str, dict[str, Any]]] = [
            (fp.active_models, "GET", "/api/v1/models/active", {}),
            (lambda: fp.model("firstpitch-home-win"), "GET",
             "/api/v1/models/firstpitch-home-win", {}),
            (lambda: fp.model_performance("firstpitch-total-over", days=3650), "GET",
             "/api/v1/models/firstpitch-total-over/performance", {"params": {"days": 3650}}),
            (lambda: fp.leaderboard(metric="brier", limit=3), "GET",
             "/api/v1/models/leaderboard", {"params": {"metric": "brier", "limit": 3}}),
            (lambda: fp.recent_predictions("firstpitch-home-win", days=3650, limit=5), "GET",
             "/api/v1/models/firstpitch-home-win/recent-predictions",
             {"params": {"days": 3650, "limit": 5}}),
            (fp.clock, "GET", "/api/v1/clock", {}),
            (fp.ready, "GET", "/health/ready", {}),
            (fp.live, "GET", "/health/live", {}),
            (lambda: fp.predict(GAME), "POST", "/api/v1/predict", {"json": {"game_id": GAME}}),
            (lambda: fp.predict_batch([GAME, OTHER]), "POST", "/api/v1/predict/batch",
             {"json": {"game_ids": [GAME, OTHER]}}),
            (lambda: fp.prediction(GAME), "GET", f"/api/v1/predict/{GAME}", {}),
            (lambda: fp.predictions_today(min_confidence=0.6), "GET",
             "/api/v1/predictions/today", {"params": {"min_confidence": 0.6}}),
        ]  # fmt: skip
        time.sleep(0.5)  # earlier tests' prediction records reach the log (flushed every 50 ms)
        for typed, method, path, kw in calls:
            result = typed()
            rest = client.request(method, path, **kw)
            assert rest.status_code == 200, (path, rest.text)
            items = result if isinstance(result, list) else [result]
            dumped = [r.model_dump(mode="json", exclude_unset=True) for r in items]
            expected = rest.json() if isinstance(result, list) else [rest.json()]
            if path.startswith("/api/v1/predict"):
                for mine, theirs in zip(dumped, expected, strict=True):
                    same(mine, theirs)
            else:
                assert dumped == expected, path
        assert fp.health().status in {"healthy", "unhealthy"}
        with pytest.raises(NotFound) as missing:
            fp.prediction("ZZZ202107040")
        assert missing.value.code == "no_prediction" and missing.value.request_id
        with pytest.raises(InvalidRequest) as invalid:
            fp.predict_batch([])
        assert invalid.value.code == "validation_error" and invalid.value.details


def test_typed_client_auth(service: RunningService, ingested: str) -> None:
    with (
        FirstPitchClient(service.url, timeout=60) as anonymous,
        pytest.raises(Unauthenticated) as no_key,
    ):
        anonymous.predict(GAME)
    assert no_key.value.status == 401 and no_key.value.code == "unauthenticated"
    feed_only = create_key(ingested, "client-feed", ("feed",))
    with (
        FirstPitchClient(service.url, api_key=feed_only, timeout=60) as fp,
        pytest.raises(Forbidden),
    ):
        fp.active_models()


def _exhaust(url: str, key: str) -> None:
    """Spend the key's burst: calls until the first 429."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        for _ in range(500):
            if http.get("/api/v1/models/active").status_code == 429:
                return
    pytest.fail("never rate limited")


def test_a_429_is_retried_after_its_retry_after(service: RunningService, ingested: str) -> None:
    key = create_key(ingested, "client-60", ("predictions", "models"), rate_limit=60)
    _exhaust(service.url, key)
    retried: list[Retried] = []
    with FirstPitchClient(service.url, api_key=key, on_retry=retried.append, timeout=60) as fp:
        started = time.monotonic()
        assert fp.active_models().default_model == "firstpitch-home-win"
    assert retried and retried[0].status == 429 and retried[0].wait_s >= 1
    assert time.monotonic() - started >= retried[0].wait_s


def test_a_429_beyond_what_the_caller_waits_for_is_surfaced(
    service: RunningService, ingested: str
) -> None:
    key = create_key(ingested, "client-1", ("predictions", "models"), rate_limit=1)
    retried: list[Retried] = []
    with FirstPitchClient(service.url, api_key=key, on_retry=retried.append, timeout=60,
                          retry=RetryPolicy(retries=3, max_retry_after_s=5)) as fp:  # fmt: skip
        fp.active_models()
        started = time.monotonic()
        with pytest.raises(RateLimited) as limited:
            fp.active_models()
    assert time.monotonic() - started < 30 and not retried  # not the 60 s it asked
    error = limited.value
    assert (error.status, error.code, error.attempts) == (429, "rate_limited", 1)
    assert error.retry_after_s is not None and error.retry_after_s > 5


async def test_async_typed_client(service: RunningService, ingested: str) -> None:
    async with AsyncFirstPitchClient(service.url, api_key=admin_key(ingested), timeout=60) as fp:
        one, today = await asyncio.gather(fp.predict(GAME), fp.predictions_today())
        assert one.game_id == GAME and today.date == "2021-07-04"
        assert GAME in {p.game_id for p in today.predictions}
        with pytest.raises(NotFound) as unknown:
            await fp.model("firstpitch-nothing")
        assert unknown.value.code == "unknown_model"


# ----------------------------------------------------------------------- the event stream
STREAM_GAME = "ZZZ202107041"  # no such game: only this test's events carry it


class DroppingProxy:
    """A TCP forwarder to the service whose connections the test can cut (both sides
    reset), as a network failure would."""

    def __init__(self, target: str) -> None:
        self.host, _, port = target.removeprefix("http://").partition(":")
        self.target_port = int(port)
        self.connections: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.opened = 0

    async def __aenter__(self) -> DroppingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop()
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        self.connections.append((writer, up_writer))
        self.opened += 1

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except OSError:
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def drop(self) -> None:
        for client_side, service_side in self.connections:
            client_side.transport.abort()
            service_side.transport.abort()
        self.connections.clear()


async def _publish(redis_url: str, n: int) -> list[str]:
    """``n`` status events on the service's stream, through the publisher's own staging."""
    import redis.asyncio as aioredis

    from firstpitch.serving import events
    from storage.event_stream import EventStream

    client = aioredis.Redis.from_url(redis_url)
    try:
        stream = EventStream(client, "fp:events", 100_000, 86_400)
        async with client.pipeline(transaction=True) as pipe:
            for i in range(n):
                stream.stage(pipe, events.fields("status", STREAM_GAME, "2021-07-04", None,
                                                 {"status": "postponed", "n": i}))  # fmt: skip
            replies = await pipe.execute()
        return [r.decode() for r in replies[::2]]
    finally:
        await client.aclose()


async def test_the_stream_resumes_after_a_dropped_connection(
    service: RunningService, settings: Any, ingested: str
) -> None:
    redis_url = settings.redis_url.get_secret_value()
    seen: list[Any] = []
    fast = RetryPolicy(backoff_s=0.05, max_backoff_s=0.2)
    async with (
        DroppingProxy(service.url) as proxy,
        AsyncFirstPitchClient(proxy.url, api_key=admin_key(ingested), retry=fast, timeout=60) as fp,
    ):
        stream = fp.events({"game_id": [STREAM_GAME]})
        first = await anext(stream)
        assert first.event == "ready"
        (before,) = await _publish(redis_url, 1)
        event = await asyncio.wait_for(anext(stream), 30)
        assert (event.event, event.id) == ("status", before)
        proxy.drop()  # the connection is cut mid-stream
        during = await _publish(redis_url, 2)  # published while nobody listens
        async with asyncio.timeout(30):
            async for event in stream:
                seen.append(event)
                if event.id == during[-1]:
                    break
        await stream.aclose()
    assert proxy.opened == 2  # reconnected once
    assert [e.event for e in seen] == ["ready", "status", "status"]
    assert [e.id for e in seen[1:]] == during  # resumed after `before`: nothing lost or repeated


def test_a_bounded_stream_ends_instead_of_reconnecting(
    service: RunningService, settings: Any, ingested: str
) -> None:
    (earlier,) = asyncio.run(_publish(settings.redis_url.get_secret_value(), 1))
    with FirstPitchClient(service.url, api_key=admin_key(ingested), timeout=60) as fp:
        got = list(fp.events({"game_id": [STREAM_GAME], "max_seconds": 1},
                             last_event_id=f"{int(earlier.split('-')[0]) - 1}-0"))  # fmt: skip
    kinds = [e.event for e in got]
    assert kinds[0] == "ready" and kinds[-1] == "end" and kinds.count("ready") == 1
    assert earlier in [e.id for e in got]  # the resume point given was honoured


def test_the_rest_schema_documents_the_bentoml_operations(client: httpx.Client) -> None:
    """So that OpenAPI clients and the schema fuzzer (test_fuzz.py) cover them too."""
    paths = client.get("/openapi.json").json()["paths"]
    for name in ("predict", "predict_batch", "predictions_today"):
        operation = paths[f"{BENTO}/{name}"]["post"]
        assert operation["security"] and "`predictions` scope" in operation["description"]
        other = client.get(f"{BENTO}/{name}")
        assert (other.status_code, other.headers.get("allow")) == (405, "POST"), other.text


def test_a_body_not_labelled_json_is_refused_by_both_doors(client: httpx.Client) -> None:
    for path in ("/api/v1/predict", f"{BENTO}/predict"):
        resp = client.post(path, content=b'{"game_id": "CIN202107040"}',
                           headers={"content-type": "text/plain"})  # fmt: skip
        assert resp.status_code == 422 and resp.json()["error"] == "validation_error", path
        unlabelled = client.post(path, content=b'{"game_id": "CIN202107040"}')
        assert unlabelled.status_code == 422, (path, unlabelled.text)
        labelled = client.post(path, content=b'{"game_id": "CIN202107040"}',
                               headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
        assert labelled.status_code == 200, (path, labelled.text)


def test_typed_client_feed_and_clock_refusals(service: RunningService, ingested: str) -> None:
    """The writing operations, refused before anything is written: a bad record names its
    index and field; this service's clock is not drivable."""
    with FirstPitchClient(service.url, api_key=admin_key(ingested), timeout=60) as fp:
        with pytest.raises(InvalidRequest) as bad:
            fp.feed("odds", [{"game_id": GAME, "market": "moneyline"}])
        assert bad.value.code == "invalid_feed" and bad.value.details
        with pytest.raises(Forbidden) as fixed:
            fp.drive_clock(datetime(2021, 7, 4, 15, tzinfo=UTC))
        assert fixed.value.code == "clock_not_drivable"
        assert fp.clock().mode == "pinned"
