"""Every served prediction reaches Postgres, even when Postgres goes away mid-run."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from tests.conftest import OwnPostgres
from tests.e2e.conftest import start_service
from tests.faults.load import Load, hold, logged, report, today, wait_for, wait_logged


async def test_postgres_down_under_load_loses_nothing(
    settings: Settings, own_postgres: OwnPostgres, champions: dict[str, object], tmp_path: Path
) -> None:
    # Its own Postgres and its own service: the outage is seen by this test alone.
    service = start_service(settings, own_postgres.dsn, tmp_path)
    try:
        games = await today(service.url, service.headers)  # predicted and cached
        load = Load(service.url, service.headers, games)
        load.start()
        # The key: /health shows the spill only to key holders.
        async with httpx.AsyncClient(
            base_url=service.url, timeout=60, headers=service.headers
        ) as probe:
            await hold(1)
            own_postgres.server.stop()
            try:
                health = await probe.get("/health")
                assert health.status_code == 503 and "postgres" in health.json()["failing"]
                await wait_for(lambda: _spilled(probe), within=20)  # records go to the spill
                await hold(2)
            finally:
                own_postgres.server.start()
            await hold(1)
            await load.stop()
            assert set(load.statuses()) == {200}, load.statuses()  # served throughout
            found = await wait_logged(own_postgres.dsn, load.prefix, load.served_records())
            assert found.rows == load.served_records() == found.distinct
            assert found.request_ids == load.served_ids()
            report("postgres_down", load, logged=found.rows, distinct=found.distinct)
            await wait_for(lambda: _spilled(probe, empty=True), within=30)
            assert (await probe.get("/health")).status_code == 200
    finally:
        service.stop()
    assert not re.search(r"\[ERROR\]|Traceback", service.log()), service.log()[-3000:]


async def _spilled(client: httpx.AsyncClient, empty: bool = False) -> bool:
    spill = (await client.get("/health")).json()["log_spill_bytes"]
    return bool(spill == 0 if empty else spill > 0)


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
        assert (await logged(ingested, prefix)).rows == 0  # still queued in memory
    finally:
        code = svc.stop()
    assert code == 0, svc.log()[-3000:]
    assert (await logged(ingested, prefix)).rows == served
