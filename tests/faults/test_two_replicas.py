"""Two API processes sharing one Redis and one Postgres, under load and through a Postgres
outage: every served prediction logged exactly once; one key's rate limit holds across both."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from firstpitch.settings import Settings
from storage.embedded import EmbeddedPostgres
from tests.e2e.conftest import create_key, start_service
from tests.faults.load import Load, hold, report, today, wait_logged


async def test_two_replicas_log_every_prediction_once(
    settings: Settings, ingested: str, champions: dict[str, object], state_dir: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    if os.environ.get("FIRSTPITCH_TEST_POSTGRES_DSN"):
        pytest.fail("stopping Postgres needs the embedded test server (unset the external DSN)")
    postgres = EmbeddedPostgres(state_dir / "servers" / "postgres", durable=False)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = start_service(settings, ingested, tmp_path / "a")
    b = start_service(settings, ingested, tmp_path / "b")
    try:
        games = await today(a.url, a.headers)
        loads = [Load(s.url, s.headers, games, concurrency=4, prefix=f"{p}-{os.getpid()}")
                 for p, s in (("replica-a", a), ("replica-b", b))]  # fmt: skip
        for load in loads:
            load.start()
        await hold(1.5)
        postgres.stop()  # both replicas spill, then both replay
        await hold(2)
        postgres.start()
        await hold(1.5)
        for load in loads:
            await load.stop()
        for load in loads:
            assert set(load.statuses()) == {200}, load.statuses()
            found = await wait_logged(ingested, load.prefix, load.served_records())
            assert found.rows == found.distinct == load.served_records(), load.prefix
            assert found.request_ids == load.served_ids()
            report("two_replicas_postgres_blip", load, logged=found.rows, distinct=found.distinct)

        # One key, limited to 30 a minute, hammered through both replicas at once.
        key = {"Authorization": f"Bearer {create_key(ingested, 'shared', rate_limit=30)}"}
        async with httpx.AsyncClient(timeout=30, headers=key) as client:
            codes = await asyncio.gather(*(
                client.post(f"{s.url}/api/v1/predict", json={"game_id": games[0]})
                for s in (a, b) for _ in range(40)
            ))  # fmt: skip
        accepted = sum(r.status_code == 200 for r in codes)
        assert 30 <= accepted <= 31 and sum(r.status_code == 429 for r in codes) == 80 - accepted
    finally:
        a.stop()
        b.stop()
