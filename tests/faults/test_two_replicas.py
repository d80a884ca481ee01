"""Two API processes sharing one Redis and one Postgres, under load and through a Postgres
outage: every served prediction logged exactly once; one key's rate limit holds across both."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from tests.conftest import OwnPostgres
from tests.e2e.conftest import create_key, start_service
from tests.faults.load import Load, hold, report, today, wait_logged


async def test_two_replicas_log_every_prediction_once(
    settings: Settings, own_postgres: OwnPostgres, champions: dict[str, object], tmp_path: Path
) -> None:
    # Its own Postgres (it is stopped mid-run) behind its own two services.
    postgres, dsn = own_postgres.server, own_postgres.dsn
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = start_service(settings, dsn, tmp_path / "a")
    try:
        b = start_service(settings, dsn, tmp_path / "b")
    except BaseException:
        a.stop()
        raise
    try:
        games = await today(a.url, a.headers)
        loads = [Load(s.url, s.headers, games, concurrency=4, prefix=f"{p}-{os.getpid()}")
                 for p, s in (("replica-a", a), ("replica-b", b))]  # fmt: skip
        for load in loads:
            load.start()
        await hold(1.5)
        postgres.stop()  # both replicas spill, then both replay
        try:
            await hold(2)
        finally:
            postgres.start()
        await hold(1.5)
        for load in loads:
            await load.stop()
        for load in loads:
            assert set(load.statuses()) == {200}, load.statuses()
            found = await wait_logged(dsn, load.prefix, load.served_records())
            assert found.rows == found.distinct == load.served_records(), load.prefix
            assert found.request_ids == load.served_ids()
            report("two_replicas_postgres_blip", load, logged=found.rows, distinct=found.distinct)

        # One key, limited to 30 a minute, hammered through both replicas at once.
        key = {"Authorization": f"Bearer {create_key(dsn, 'shared', rate_limit=30)}"}
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
