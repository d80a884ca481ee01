"""New and revoked keys reach every worker at once, while made-up keys use up the lookups."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from storage import api_keys
from storage.postgres import connect
from tests.e2e.conftest import start_service

# The periodic reload runs every 60 s here: only the announcement (LISTEN/NOTIFY) can apply a
# change within this bound, with room for a worker busy building its feature state.
BOUND_S = 1.0
PROBE = "/api/v1/predict/batch"  # GET: 405 once the key is accepted, 401 before


async def _flood(url: str, stop: asyncio.Event) -> int:
    """Requests with random well-formed unknown keys, 20 at a time, until ``stop``."""
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def worker() -> None:
            nonlocal sent
            while not stop.is_set():
                junk = f"fpk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
                resp = await client.get(PROBE, headers={"Authorization": f"Bearer {junk}"})
                assert resp.status_code == 401
                sent += 1

        await asyncio.gather(*(worker() for _ in range(20)))
    return sent


async def _until(client: httpx.AsyncClient, token: str, status: int) -> float:
    """Seconds until ``status`` is the answer, then checked on 20 more requests (both
    workers answer some of them)."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    while (await client.get(PROBE, headers=headers)).status_code != status:
        assert time.monotonic() - started < 10, f"never {status}"
        await asyncio.sleep(0.01)
    took = time.monotonic() - started
    again = [(await client.get(PROBE, headers=headers)).status_code for _ in range(20)]
    assert again == [status] * 20, again
    return took


async def _scenario(url: str, dsn: str) -> tuple[float, float, float]:
    stop = asyncio.Event()
    flood_started = time.monotonic()
    flood = asyncio.create_task(_flood(url, stop))
    conn = await connect(dsn)
    try:
        await asyncio.sleep(1.5)  # the worker's 20 lookups a second are long used up
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            key, token = await api_keys.create(conn, "made-under-flood", ["predictions"])
            works_in = await _until(client, token, 405)
            await api_keys.revoke(conn, key.key_id)
            stops_in = await _until(client, token, 401)
    finally:
        stop.set()
        sent = await flood
        await conn.close()
    return works_in, stops_in, sent / (time.monotonic() - flood_started)


def test_new_and_revoked_keys_apply_at_once_under_a_flood(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    # Reloads every 60 s: what this measures is the announcement, not the periodic reload.
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_AUTH_REFRESH_S="60",
                        FIRSTPITCH_API_WORKERS="2")  # fmt: skip
    try:
        works_in, stops_in, rate = asyncio.run(_scenario(svc.url, ingested))
    finally:
        svc.stop()
    print(f"flood {rate:.0f}/s; new key in {works_in * 1000:.0f} ms, revoked in "
          f"{stops_in * 1000:.0f} ms")  # fmt: skip
    assert rate > 40, f"the flood ran at only {rate:.0f} requests/s"
    assert works_in < BOUND_S, f"a new key was refused for {works_in:.3f} s"
    assert stops_in < BOUND_S, f"a revoked key kept working for {stops_in:.3f} s"
