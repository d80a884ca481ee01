"""The client's own logic — retries, errors, stream resumption — against an in-process
transport answering as the service does (the real service: tests/e2e/test_clients.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from firstpitch.client import (
    AsyncFirstPitchClient,
    ConnectionFailed,
    FirstPitchClient,
    InvalidRequest,
    NotFound,
    RateLimited,
    Retried,
    RetryPolicy,
    ServerError,
    Unavailable,
)
from firstpitch.client.events import Resumption
from firstpitch.stream_client import StreamEvent, StreamRefused

FAST = RetryPolicy(retries=3, backoff_s=0.001, max_backoff_s=0.002)
ACTIVE = {"models": [], "default_model": "firstpitch-home-win"}


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers,
                          json={"error": code, "message": f"{code}!", "request_id": "r-1"})  # fmt: skip


def answering(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[min(len(sent), len(answers)) - 1]

    return httpx.MockTransport(handle), sent


def client(
    transport: httpx.MockTransport, on_retry: Callable[[Retried], None] | None = None
) -> FirstPitchClient:
    return FirstPitchClient("http://fp", api_key="fpk_x", retry=FAST, on_retry=on_retry,
                            transport=transport)  # fmt: skip


def test_503_and_429_are_retried_honouring_retry_after() -> None:
    transport, sent = answering(error(503, "overloaded", {"Retry-After": "0"}),
                                error(429, "rate_limited", {"Retry-After": "0"}),
                                httpx.Response(200, json=ACTIVE))  # fmt: skip
    retried: list[Retried] = []
    with client(transport, retried.append) as fp:
        assert fp.active_models().default_model == "firstpitch-home-win"
    assert [(r.attempt, r.status, r.wait_s) for r in retried] == [(0, 503, 0.0), (1, 429, 0.0)]
    assert len(sent) == 3 and sent[0].headers["authorization"] == "Bearer fpk_x"


def test_retries_run_out_and_the_error_is_surfaced_with_its_code() -> None:
    transport, sent = answering(error(503, "unavailable"))
    with client(transport) as fp, pytest.raises(Unavailable) as failed:
        fp.predict("CIN202107040")
    assert len(sent) == 4  # the first try and 3 retries, backing off (no Retry-After)
    e = failed.value
    assert (e.status, e.code, e.message, e.request_id, e.attempts) == (
        503, "unavailable", "unavailable!", "r-1", 4)  # fmt: skip


def test_a_retry_after_longer_than_the_policy_allows_is_not_waited_for() -> None:
    transport, sent = answering(error(429, "rate_limited", {"Retry-After": "60"}))
    with client(transport) as fp, pytest.raises(RateLimited) as limited:
        fp.predict("CIN202107040")
    assert len(sent) == 1 and limited.value.retry_after_s == 60


def test_other_errors_are_not_retried() -> None:
    transport, sent = answering(error(404, "unknown_game"), httpx.Response(502, text="<html>"))
    with client(transport) as fp:
        with pytest.raises(NotFound) as missing:
            fp.predict("ZZZ202107040")
        assert missing.value.code == "unknown_game" and len(sent) == 1
        with pytest.raises(ServerError) as proxy:
            fp.predict("ZZZ202107040")
    assert (proxy.value.status, proxy.value.code) == (502, "http_error")


def test_only_connections_never_made_are_retried() -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        raise httpx.ConnectError("refused", request=request)

    with client(httpx.MockTransport(refuse)) as fp, pytest.raises(ConnectionFailed):
        fp.live()
    assert len(attempts) == 4

    def cut(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        raise httpx.ReadError("reset", request=request)

    attempts.clear()
    with client(httpx.MockTransport(cut)) as fp, pytest.raises(ConnectionFailed):
        fp.predict("CIN202107040")  # may have reached the service: sent once
    assert len(attempts) == 1


async def test_the_async_client_retries_the_same_way() -> None:
    sent: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return error(503, "overloaded", {"Retry-After": "0"}) if len(sent) < 2 else (
            httpx.Response(200, json={"status": "ok"}))  # fmt: skip

    async with AsyncFirstPitchClient("http://fp", retry=FAST,
                                     transport=httpx.MockTransport(handle)) as fp:  # fmt: skip
        assert (await fp.live()).status == "ok"
    assert len(sent) == 2


def event(kind: str, ident: str | None = None, **data: object) -> StreamEvent:
    return StreamEvent(kind, ident, data, 0.0)


def test_resumption_follows_the_last_id_and_stops_where_asked() -> None:
    state = Resumption({"after": "5-0", "type": ["odds"]}, None, FAST, max_reconnects=None)
    assert state.headers() == {"Last-Event-ID": "5-0"} and "after" not in state.params
    for e in (event("ready"), event("odds", "6-0"), event("heartbeat")):
        state.seen(e)
    assert state.headers() == {"Last-Event-ID": "6-0"}
    state.seen(event("end", reason="max_seconds"))  # the service's own limit: resume
    assert state.after_close() == 0.0
    wait = state.after_close()  # cut without an end: a drop, backed off
    assert wait is not None and wait > 0
    bounded = Resumption({"max_seconds": 5}, "1-0", FAST, max_reconnects=None)
    bounded.seen(event("end", reason="max_seconds"))
    assert bounded.after_close() is None  # the caller's bound: done
    limited = Resumption(None, None, FAST, max_reconnects=1)
    assert limited.after_close() is not None and limited.after_close() is None


def test_stream_refusals_wait_their_retry_after_or_raise() -> None:
    state = Resumption(None, None, FAST, max_reconnects=None)
    busy = StreamRefused(429, {"error": "too_many_streams", "message": "m"},
                         httpx.Headers({"Retry-After": "2"}))  # fmt: skip
    assert state.after_refusal(busy) == 2.0
    with pytest.raises(RateLimited) as far:
        state.after_refusal(StreamRefused(429, {"error": "too_many_streams", "message": "m"},
                                          httpx.Headers({"Retry-After": "600"})))  # fmt: skip
    assert far.value.code == "too_many_streams"
    with pytest.raises(InvalidRequest) as bad:
        state.after_refusal(StreamRefused(422, {"error": "validation_error", "message": "m"}))
    assert bad.value.code == "validation_error"
