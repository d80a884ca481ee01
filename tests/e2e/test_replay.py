"""A season replay through real HTTP: ``firstpitch replay`` drives a service's clock and
feeds it the days' facts, starting from a database that ends where the replay begins. What
it leaves behind is what the historical ingest holds for those days, row for row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from firstpitch.settings import Settings
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
    svc = start_service(
        settings, own_postgres.dsn, tmp_path, FIRSTPITCH_CLOCK_DRIVABLE="true",
        FIRSTPITCH_NOW="2021-05-31T12:00:00Z", FIRSTPITCH_REDIS_URL=redis_url,
        FIRSTPITCH_API_WORKERS="2",
    )  # fmt: skip
    try:
        key = create_key(own_postgres.dsn, "replayer", ("feed", "predictions"))
        events = build(data_dir, date.fromisoformat(FIRST), date.fromisoformat(LAST))
        report = _replay(svc.url, key)
        assert report["events"] == len(events) and report["inserted"] == len(events)
        assert report["unchanged"] == report["updated"] == 0
        for name, sql in SAME.items():
            assert await _rows(own_postgres.dsn, sql) == await _rows(ingested, sql), name
        # Both workers show the replayed clock: the last fact's moment.
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=svc.url, headers=auth) as c:
            seen = {(await c.get("/api/v1/clock")).json()["now"] for _ in range(12)}
        assert seen == {events[-1].at.isoformat().replace("+00:00", "Z")}
        # Played again, it changes nothing.
        again = _replay(svc.url, key)
        assert again["unchanged"] == len(events) and again["inserted"] == again["updated"] == 0
    finally:
        svc.stop()


def test_a_production_clock_cannot_be_driven(client: httpx.Client) -> None:
    state = client.get("/api/v1/clock")
    assert state.status_code == 200 and state.json()["mode"] == "pinned"
    refused = client.post("/api/v1/clock", json={"now": "2021-07-05T00:00:00Z"})
    assert refused.status_code == 403 and refused.json()["error"] == "clock_not_drivable"
    assert client.get("/api/v1/clock").json() == state.json()
    assert client.post("/api/v1/clock", json={"now": "2021-07-05"}).status_code == 422
