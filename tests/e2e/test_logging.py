"""Every served prediction reaches Postgres, even when Postgres goes away mid-run."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx
import pytest

from firstpitch.settings import Settings
from storage.embedded import EmbeddedPostgres
from storage.postgres import connect
from tests.e2e.conftest import RunningService, start_service


async def _logged(dsn: str, prefix: str) -> int:
    conn = await connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM prediction_log WHERE request_id LIKE $1", f"{prefix}%"
            )
        )
    finally:
        await conn.close()


async def _wait_logged(dsn: str, prefix: str, expected: int, seconds: float = 30) -> int:
    found = -1
    for _ in range(int(seconds / 0.25)):
        try:
            found = await _logged(dsn, prefix)
        except OSError:
            found = -1
        if found >= expected:
            break
        await asyncio.sleep(0.25)
    return found


async def test_postgres_down_mid_run_loses_nothing(
    service: RunningService, state_dir: Path, ingested: str
) -> None:
    if os.environ.get("FIRSTPITCH_TEST_POSTGRES_DSN"):
        pytest.skip("stopping Postgres needs the embedded test server")
    postgres = EmbeddedPostgres(state_dir / "servers" / "postgres", durable=False)
    prefix = f"noloss-{uuid.uuid4().hex[:8]}"
    served = 0
    async with httpx.AsyncClient(
        base_url=service.url, headers=service.headers, timeout=60
    ) as client:
        today = [p["game_id"] for p in
                 (await client.get("/api/v1/predictions/today")).json()["predictions"]]  # fmt: skip
        resp = await client.post("/api/v1/predict/batch", json={"game_ids": today},
                                 headers={"x-request-id": f"{prefix}-warm"})  # fmt: skip
        assert resp.status_code == 200
        served += len(resp.json())
        postgres.stop()
        try:
            for i in range(40):
                resp = await client.post("/api/v1/predict", json={"game_id": today[i % len(today)]},
                                         headers={"x-request-id": f"{prefix}-{i}"})  # fmt: skip
                assert resp.status_code == 200, (
                    resp.text
                )  # served from Redis while Postgres is down
                served += 1
            health = await client.get("/health")
            assert health.status_code == 503 and "postgres" in health.json()["failing"]
            for _ in range(40):
                if (await client.get("/health")).json()["log_spill_bytes"] > 0:
                    break
                await asyncio.sleep(0.25)
            assert (await client.get("/health")).json()["log_spill_bytes"] > 0
        finally:
            postgres.start()
        assert await _wait_logged(ingested, prefix, served) == served
        for _ in range(40):
            if (await client.get("/health")).json()["log_spill_bytes"] == 0:
                break
            await asyncio.sleep(0.25)
        assert (await client.get("/health")).status_code == 200


async def test_shutdown_flushes_every_queued_record(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    # Records would wait 60 s for their batch: only the shutdown hook can write them in time.
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_LOG_FLUSH_MS="60000",
                        FIRSTPITCH_LOG_BATCH_SIZE="100000")  # fmt: skip
    prefix = f"flush-{uuid.uuid4().hex[:8]}"
    served = 0
    try:
        async with httpx.AsyncClient(base_url=svc.url, headers=svc.headers, timeout=60) as client:
            for i in range(25):
                resp = await client.post("/api/v1/predict", json={"game_id": "ATL202107040"},
                                         headers={"x-request-id": f"{prefix}-{i}"})  # fmt: skip
                assert resp.status_code == 200
                served += 1
        assert await _logged(ingested, prefix) == 0  # still queued in memory
    finally:
        code = svc.stop()
    assert code == 0, svc.log()[-3000:]
    assert await _logged(ingested, prefix) == served
