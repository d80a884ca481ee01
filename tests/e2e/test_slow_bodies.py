"""Slow bodies (a byte at a time, on raw loopback sockets) cannot lock the API out, and
readiness says when this worker really is saturated."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from firstpitch.settings import Settings
from tests.e2e.conftest import RunningService, start_service

GAME = {"game_id": "CIN202107040"}
# Long enough that the saturated worker is still saturated when the probes below get their
# turn on a loaded machine (the probes themselves can take a second or more then).
BODY_TIMEOUT_S = 5


async def _slow_post(url: str, path: str, headers: dict[str, str], within: float) -> int:
    """POST announcing 1,000 bytes and sending one every 0.2 s; the status it gets (0: none
    within ``within`` seconds)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write((head + "Content-Length: 1000\r\n\r\n").encode())

    async def trickle() -> None:
        for _ in range(1000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(trickle())
    try:
        line = await asyncio.wait_for(reader.readline(), within)
        return int(line.split()[1])
    except (TimeoutError, ConnectionError, IndexError):
        return 0
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _calls(svc: RunningService) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=svc.url, timeout=10) as client:
        predict = await client.post("/api/v1/predict", json=GAME, headers=svc.headers)
        health = await client.get("/health")
        ready = await client.get("/health/ready")
    return {"predict": predict.status_code, "health": health.status_code,
            "ready": ready.status_code, "ready_capacity": "capacity" in ready.text}  # fmt: skip


async def _attack_then_saturate(svc: RunningService) -> None:
    # 64 anonymous slow bodies to /health (GET only: 405) and 64 to the API (no key: 401),
    # refused at once, before reading any of them.
    anonymous = [_slow_post(svc.url, "/health", {}, within=3) for _ in range(64)]
    anonymous += [_slow_post(svc.url, "/api/v1/predict", {}, within=3) for _ in range(64)]
    attack = asyncio.gather(*anonymous)
    await asyncio.sleep(0.5)
    during = await _calls(svc)
    statuses = await attack
    assert sorted(set(statuses)) == [401, 405], statuses
    # Keyed calls and the readiness probe are untouched by the anonymous flood. The open
    # /health shares the small open budget with it, so on a busy machine it may be shed.
    assert {k: during[k] for k in ("predict", "ready", "ready_capacity")} == {
        "predict": 200, "ready": 200, "ready_capacity": False}  # fmt: skip
    assert during["health"] in (200, 503), during

    # Keyed slow bodies beyond the API budget (8 here): the worker is saturated until the
    # body deadline (BODY_TIMEOUT_S here) turns them away with 408, and readiness says so meanwhile.
    keyed = asyncio.gather(*(_slow_post(svc.url, "/api/v1/predict", svc.headers,
                                        within=BODY_TIMEOUT_S + 6) for _ in range(12)))  # fmt: skip
    await asyncio.sleep(0.7)
    saturated = await _calls(svc)
    started = time.monotonic()
    statuses = await keyed
    assert statuses.count(408) == 8 and statuses.count(503) == 4, statuses
    assert time.monotonic() - started < BODY_TIMEOUT_S + 1
    assert saturated["predict"] == 503 and saturated["ready"] == 503
    assert saturated["ready_capacity"] and saturated["health"] == 200
    await asyncio.sleep(2.5)  # readiness recovers once the budget has stopped shedding
    assert await _calls(svc) == {"predict": 200, "health": 200, "ready": 200,
                                 "ready_capacity": False}  # fmt: skip


def test_slow_bodies_are_bounded_and_readiness_reflects_saturation(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_MAX_IN_FLIGHT="8",
                        FIRSTPITCH_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S))  # fmt: skip
    try:
        asyncio.run(_attack_then_saturate(svc))
    finally:
        svc.stop()
    assert "Traceback" not in svc.log()
