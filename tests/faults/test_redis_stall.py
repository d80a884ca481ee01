"""Redis stalled (SIGSTOP): one timeout per request at most, and rate limits still hold,
per worker, while it is away."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from storage.embedded import EmbeddedValkey
from tests.e2e.conftest import create_key, start_service
from tests.faults.load import today, wait_for

TIMEOUT_S = 0.5  # FIRSTPITCH_REDIS_TIMEOUT_MS, the default


async def test_a_stalled_redis_costs_one_timeout_and_limits_still_hold(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    redis = EmbeddedValkey(tmp_path / "redis", durable=False)  # this test's own Redis
    url = redis.start()
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_REDIS_URL=url)
    limited = {"Authorization": f"Bearer {create_key(ingested, 'stall', rate_limit=30)}"}
    stopped = False
    try:
        games = await today(svc.url, svc.headers)
        body = {"game_id": games[0]}
        async with httpx.AsyncClient(base_url=svc.url, timeout=10) as client:
            used = [await client.post("/api/v1/predict", json=body, headers=limited)
                    for _ in range(40)]  # fmt: skip
            assert [r.status_code for r in used].count(429) >= 9  # at its limit
            pid = redis.status().pid
            assert pid
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            started = time.monotonic()
            first = await client.post("/api/v1/predict", json=body, headers=svc.headers)
            first_s = time.monotonic() - started
            during = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(during) < 2000:
                during.append(await client.post("/api/v1/predict", json=body, headers=limited))
            os.kill(pid, signal.SIGCONT)
            stopped = False

            async def answering() -> bool:
                resp = await client.post("/api/v1/predict", json=body, headers=svc.headers)
                return resp.status_code == 200

            await wait_for(answering, within=15)
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        svc.stop()
        redis.stop()
    print(f"first answer with Redis stalled: {first.status_code} in {first_s * 1000:.0f} ms; "
          f"the limited key during the stall: {len(during)} requests, "
          f"{sum(r.status_code != 429 for r in during)} let through")  # fmt: skip
    assert first.status_code == 503 and first.json()["error"] == "unavailable"
    assert first_s < TIMEOUT_S + 0.25, f"the first answer took {first_s:.2f} s"
    statuses = [r.status_code for r in during]
    assert set(statuses) <= {429, 503} and len(statuses) > 50
    # The worker carries on from where Redis left the key (at its limit): one game every 2 s.
    assert len(statuses) - statuses.count(429) <= 3
    assert "Traceback" not in svc.log()
