"""A season replay through real HTTP: ``firstpitch replay`` drives a service's clock and
feeds it the days' facts, starting from a database that ends where the replay begins. What
it leaves behind is what the historical ingest holds for those days, row for row."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from firstpitch.settings import Settings
from firstpitch.stream_client import StreamEvent, stream_events
from ingest.history_cut import keep_before
from replay.timeline import build
from storage.postgres import connect
from tests.conftest import OwnPostgres
from tests.e2e.conftest import create_key, start_service

FIRST, LAST = "2021-06-01", "2021-06-03"
DAYS = "g.game_date BETWEEN '2021-06-01' AND '2021-06-03'"
# What the feed writes and the ingest writes alike (the feed has no source file or
# attendance; a game's known status is the feed's own).
SAME = {
    "games": "SELECT g.game_id, g.game_date, g.season, g.game_num, g.game_type, g.day_of_week,"
    " g.away_team, g.away_league, g.home_team, g.home_league, g.day_night, g.park_id,"
    " g.park_tz, g.scheduled_start, g.away_sp_id, g.home_sp_id FROM games g WHERE " + DAYS,
    "results": "SELECT r.game_id, r.known_at, r.home_score, r.away_score, r.duration_min,"
    " r.length_outs, r.home_h, r.home_hr, r.home_bb, r.home_k, r.home_e, r.home_er,"
    " r.away_h, r.away_hr, r.away_bb, r.away_k, r.away_e, r.away_er"
    " FROM game_results r JOIN games g USING (game_id) WHERE " + DAYS,
    "announcements": "SELECT a.game_id, a.side, a.kind, a.players, a.known_at"
    " FROM lineup_snapshots a JOIN games g USING (game_id) WHERE " + DAYS,
    "odds": "SELECT s.game_id, s.market, s.source, s.observed_at, s.home_price, s.away_price,"
    " s.over_price, s.under_price, s.line FROM odds_snapshots s JOIN games g USING (game_id)"
    " WHERE (s.home_price IS NOT NULL OR s.over_price IS NOT NULL) AND " + DAYS,
}


async def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await connect(dsn)
    try:
        return sorted(tuple(r) for r in await conn.fetch(sql))
    finally:
        await conn.close()


async def _listen(url: str, key: str, seen: list[StreamEvent], ready: asyncio.Event) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=None) as http:
        async for event in stream_events(http):
            if event.event == "ready":
                ready.set()
            elif event.id is not None:
                seen.append(event)


def _replay(url: str, key: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "firstpitch", "replay", "--from", FIRST, "--to", LAST,
         "--url", url, "--json"],
        env=os.environ | {"FIRSTPITCH_API_KEY": key}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


async def test_a_replay_leaves_what_the_ingest_holds_for_its_days(
    settings: Settings,
    ingested: str,
    own_postgres: OwnPostgres,
    champions: dict[str, object],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    conn = await connect(own_postgres.dsn)
    try:
        assert await keep_before(conn, date.fromisoformat(FIRST)) > 0
    finally:
        await conn.close()
    assert await _rows(own_postgres.dsn, SAME["games"]) == []
    redis_url = settings.redis_url.get_secret_value().rsplit("/", 1)[0] + "/5"  # type: ignore[union-attr]
    stream_key = f"fp:replay-events:{uuid.uuid4().hex[:8]}"
    svc = start_service(
        settings, own_postgres.dsn, tmp_path, FIRSTPITCH_CLOCK_DRIVABLE="true",
        FIRSTPITCH_NOW="2021-05-31T12:00:00Z", FIRSTPITCH_REDIS_URL=redis_url,
        FIRSTPITCH_API_WORKERS="2", FIRSTPITCH_STREAM_KEY=stream_key,
    )  # fmt: skip
    redis = aioredis.Redis.from_url(redis_url)
    try:
        key = create_key(own_postgres.dsn, "replayer", ("feed", "predictions"))
        events = build(data_dir, date.fromisoformat(FIRST), date.fromisoformat(LAST))
        seen: list[StreamEvent] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(_listen(svc.url, key, seen, ready))
        await asyncio.wait_for(ready.wait(), 60)
        report = await asyncio.to_thread(_replay, svc.url, key)
        facts = sum(1 for e in events if e.kind != "cutoff")
        assert report["events"] == len(events) and report["inserted"] == facts
        assert report["unchanged"] == report["updated"] == 0
        for name, sql in SAME.items():
            assert await _rows(own_postgres.dsn, sql) == await _rows(ingested, sql), name

        # The stream client saw every event the service published, once and in order.
        published = [i.decode() for i, _ in await redis.xrange(stream_key)]
        async with asyncio.timeout(30):
            while len(seen) < len(published):  # noqa: ASYNC110 - filled by the listener task
                await asyncio.sleep(0.1)
        assert [e.id for e in seen] == published and len(published) == report["published"]
        assert len(published) >= len(events) // 4
        assert {"prediction", "result"} <= {e.event for e in seen}
        listener.cancel()

        # Every replayed game was predicted before its cutoff and its result settled it.
        games = {e.game_id for e in events}
        starts = {e.game_id: e.record["scheduled_start"] for e in events if e.kind == "schedule"}
        conn = await connect(own_postgres.dsn)
        try:
            rows = await conn.fetch(
                "SELECT game_id, min(predicted_at) AS first FROM prediction_log "
                "WHERE game_id = ANY($1) GROUP BY game_id",
                sorted(games),
            )
        finally:
            await conn.close()
        first = {r["game_id"]: r["first"] for r in rows}
        assert set(first) == games
        for game_id, at in first.items():
            cutoff = _time(starts[game_id]) - timedelta(minutes=60)
            assert at <= cutoff, (game_id, at, cutoff)
        assert {e.data["game_id"] for e in seen if e.event == "result"} == games

        # Both workers show the replayed clock: the last fact's moment.
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=svc.url, headers=auth) as c:
            shown = {(await c.get("/api/v1/clock")).json()["now"] for _ in range(12)}
        assert shown == {events[-1].at.isoformat().replace("+00:00", "Z")}
        # Played again, it changes nothing and publishes nothing.
        again = await asyncio.to_thread(_replay, svc.url, key)
        assert again["unchanged"] == facts and again["inserted"] == again["updated"] == 0
        assert await redis.xlen(stream_key) == len(published)
    finally:
        await redis.aclose()
        svc.stop()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_production_clock_cannot_be_driven(client: httpx.Client) -> None:
    state = client.get("/api/v1/clock")
    assert state.status_code == 200 and state.json()["mode"] == "pinned"
    refused = client.post("/api/v1/clock", json={"now": "2021-07-05T00:00:00Z"})
    assert refused.status_code == 403 and refused.json()["error"] == "clock_not_drivable"
    assert client.get("/api/v1/clock").json() == state.json()
    assert client.post("/api/v1/clock", json={"now": "2021-07-05"}).status_code == 422
    assert client.post("/api/v1/clock", json={"now": 0}).status_code == 422
