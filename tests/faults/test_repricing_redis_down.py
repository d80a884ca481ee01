"""Re-pricing fails after the feed committed (Redis stopped): the write stands, the answer
says so, the failure is counted and logged as an outage; once Redis is back the next change
is re-priced and streamed, and a resume from before the outage is told it missed events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from firstpitch.stream_client import stream_events
from storage.embedded import EmbeddedValkey
from storage.postgres import connect
from tests.conftest import OwnPostgres
from tests.e2e.conftest import UNHURRIED, start_service

GAME = "CIN202107040"  # first pitch 17:05 UTC: between its cutoff and first pitch at 16:30


def snapshot(n: int) -> dict[str, object]:
    return {"game_id": GAME, "market": "moneyline", "source": "book-f",
            "observed_at": f"2021-07-04T16:{n // 60:02d}:{n % 60:02d}Z",
            "home_price": -130 - n % 50, "away_price": 110 + n % 50}  # fmt: skip


def failures(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('firstpitch_repricing_failures_total{kind="odds"}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_failed_repricing_leaves_the_write_and_says_so(
    settings: Settings, own_postgres: OwnPostgres, champions: dict[str, object], tmp_path: Path
) -> None:
    redis = EmbeddedValkey(tmp_path / "redis", durable=False)  # this test's own Redis
    try:
        # Unhurried: a stopped Redis refuses at once; deadlines are not what this is about.
        svc = start_service(settings, own_postgres.dsn, tmp_path, FIRSTPITCH_REDIS_URL=redis.start(),
                            FIRSTPITCH_NOW="2021-07-04T16:30:00Z", **UNHURRIED)  # fmt: skip
    except BaseException:
        redis.stop()
        raise
    try:
        async with httpx.AsyncClient(base_url=svc.url, headers=svc.headers, timeout=30) as http:

            async def post(minute: int) -> dict[str, object]:
                resp = await http.post("/api/v1/feed/odds", json={"records": [snapshot(minute)]})
                assert resp.status_code == 200, resp.text
                return dict(resp.json())

            before = await post(1)
            assert before["repricing"] == "done", svc.log()[-3000:]
            assert len(before["events"]) == 1  # type: ignore[arg-type]
            redis.stop()
            during = await post(2)
            assert (during["inserted"], during["repricing"], during["events"]) == (1, "failed", [])
            conn = await connect(own_postgres.dsn)
            try:
                held = await conn.fetchval(
                    "SELECT home_price FROM odds_snapshots WHERE game_id = $1 AND source = "
                    "'book-f' AND observed_at = '2021-07-04T16:00:02Z'", GAME)  # fmt: skip
            finally:
                await conn.close()
            assert held == -132  # the write stands
            assert failures((await http.get("/metrics")).text) >= 1
            redis.start()
            async with asyncio.timeout(30):
                for n in range(3, 1000):  # the pool refuses for a moment after the outage
                    after = await post(n)
                    if after["repricing"] == "done":
                        break
                    await asyncio.sleep(0.5)
            events = []
            first_id = before["events"][0]["id"]  # type: ignore[index]
            async for event in stream_events(http, {"max_seconds": 2}, last_event_id=first_id):
                events.append(event)
            kinds = [e.event for e in events]
            assert kinds[:2] == ["ready", "missed"], kinds  # Redis came back empty
            assert [e.id for e in events if e.id] == [after["events"][0]["id"]]  # type: ignore[index]
    finally:
        svc.stop()
        redis.stop()
    log = svc.log()
    assert "re-pricing after a feed batch (odds) failed" in log and "Traceback" not in log
