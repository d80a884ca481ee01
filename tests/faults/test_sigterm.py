"""SIGTERM under load: in-flight requests finish (or get a clean 503), the log is flushed."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from firstpitch.settings import Settings
from tests.e2e.conftest import start_service
from tests.faults.load import Load, hold, logged, report, today, wait_logged


async def test_sigterm_under_load_loses_no_served_prediction(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    # Records wait up to 2 s in memory: the shutdown hook must write what is queued.
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_LOG_FLUSH_MS="2000")
    games = await today(svc.url, svc.headers)
    load = Load(svc.url, svc.headers, games, concurrency=8)
    load.start()
    await hold(2)
    svc.proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(svc.proc.wait, 90)
    await load.stop()
    assert code == 0, svc.log()[-3000:]

    statuses = load.statuses()
    assert statuses[200] > 100, statuses
    assert set(statuses) <= {200, 503, None}, statuses  # None: refused once it stopped listening
    assert {o.error for o in load.outcomes if o.status == 503} <= {"overloaded", "unavailable"}
    found = await logged(ingested, load.prefix)
    assert found.rows == found.distinct
    assert load.served_ids() <= found.request_ids, "served predictions missing after shutdown"

    restarted = start_service(settings, ingested, tmp_path)  # replays anything spilled
    try:
        again = await wait_logged(ingested, load.prefix, found.rows)
    finally:
        restarted.stop()
    report("sigterm", load, exit_code=code, logged_at_exit=found.rows, after_restart=again.rows)
    assert again.rows == again.distinct == found.rows  # nothing was left to replay twice
    assert not list((tmp_path / "spill").glob("spill-*"))
