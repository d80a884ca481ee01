"""The live feed through real HTTP and the command line, against a service and a Postgres
of this test's own (it writes): a game announced live is predicted at its feed's prices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from firstpitch.settings import Settings
from tests.conftest import OwnPostgres
from tests.e2e.conftest import PINNED_NOW, create_key, start_service

# A second Seattle game on the pinned day, announced live (no historical file holds it).
GAME = {"game_id": "SEA202107042", "home_team": "SEA", "away_team": "OAK", "park_id": "SEA03",
        "scheduled_start": "2021-07-05T02:10:00Z", "game_num": 2,
        "known_at": "2021-07-03T12:00:00Z"}  # fmt: skip
ODDS = {"game_id": "SEA202107042", "market": "moneyline", "source": "book-a",
        "observed_at": "2021-07-04T14:00:00Z", "home_price": -140, "away_price": 120}  # fmt: skip


def _cli(dsn: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FIRSTPITCH_POSTGRES_DSN": dsn, "FIRSTPITCH_NOW": PINNED_NOW}
    return subprocess.run([sys.executable, "-m", "firstpitch", "feed", *args], input=stdin,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


async def test_a_game_announced_live_is_predicted_at_the_feeds_prices(
    settings: Settings, own_postgres: OwnPostgres, champions: dict[str, object], tmp_path: Path
) -> None:
    dsn = own_postgres.dsn
    feeder = {"Authorization": f"Bearer {create_key(dsn, 'feeder', ('feed',))}"}
    svc = start_service(settings, dsn, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
            # The predictions key may not feed, the feed key may not predict.
            denied = await client.post("/api/v1/feed/schedule", json={"records": [GAME]},
                                       headers=svc.headers | {"Authorization": "Bearer x"})  # fmt: skip
            assert denied.status_code == 401
            put = await client.post("/api/v1/feed/schedule", json={"records": [GAME]},
                                    headers=feeder)  # fmt: skip
            assert put.status_code == 200, put.text
            assert put.json()["inserted"] == 1
            assert (await client.post("/api/v1/predict", json={"game_id": GAME["game_id"]},
                                      headers=feeder)).status_code == 403  # fmt: skip
            bad = await client.post("/api/v1/feed/odds", headers=feeder, json={
                "records": [ODDS, ODDS | {"observed_at": "2021-07-04T18:00:00Z"}]})  # fmt: skip
            assert bad.status_code == 422, bad.text
            body = bad.json()
            assert body["error"] == "invalid_feed"
            assert body["details"] == [{"index": 1, "field": "observed_at",
                                        "reason": "later than the service's clock: not yet knowable"}]  # fmt: skip
            ok = await client.post("/api/v1/feed/odds", json={"records": [ODDS]}, headers=feeder)
            assert ok.status_code == 200 and ok.json()["inserted"] == 1, ok.text

            today = await client.get("/api/v1/predictions/today", headers=svc.headers)
            ids = [p["game_id"] for p in today.json()["predictions"]]
            assert GAME["game_id"] in ids and len(ids) == 17  # the day's 16 and the new one
            pred = await client.post("/api/v1/predict", json={"game_id": GAME["game_id"]},
                                     headers=svc.headers)  # fmt: skip
            assert pred.status_code == 200, pred.text
            bet = pred.json()["betting_recommendations"]["moneyline"]
            assert bet["odds"] in (-140, 120)  # priced at what the feed sent

        # The command line through the service: re-priced and published like a POST.
        token = feeder["Authorization"].removeprefix("Bearer ")
        moved = ODDS | {"source": "book-c", "home_price": -150, "away_price": 130}
        posted = _cli(dsn, "odds", "-", "--url", svc.url, "--key", token,
                      stdin=json.dumps(moved) + "\n")  # fmt: skip
        assert posted.returncode == 0, posted.stderr
        answer = json.loads(posted.stdout)
        assert (answer["inserted"], answer["batches"], answer["repricing"]) == (1, 1, ["done"])
        assert [(e["type"], e["game_id"]) for e in answer["events"]] == [
            ("prediction", GAME["game_id"])
        ]
        late = _cli(dsn, "odds", "-", "--url", svc.url, "--key", token,
                    stdin=json.dumps(ODDS | {"observed_at": "2021-07-04T18:00:00Z"}) + "\n")  # fmt: skip
        assert late.returncode == 2 and "record 0: observed_at" in late.stderr  # its clock
        unkeyed = _cli(dsn, "odds", "-", "--url", svc.url, stdin=json.dumps(moved) + "\n")
        assert unkeyed.returncode == 1 and "HTTP 401" in unkeyed.stderr
    finally:
        svc.stop()

    # The command line takes the same records (CSV here), through the same path.
    csv_text = ("game_id,market,source,observed_at,home_price,away_price\n"
                "SEA202107042,moneyline,book-b,2021-07-04T14:30:00Z,-145,125\n")  # fmt: skip
    path = tmp_path / "odds.csv"
    path.write_text(csv_text)
    first = _cli(dsn, "odds", str(path))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["inserted"] == 1
    again = _cli(dsn, "odds", "-", stdin=json.dumps(ODDS) + "\n")  # JSON lines on stdin
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 1
    refused = _cli(dsn, "odds", "-", stdin=json.dumps(ODDS | {"home_price": -6}) + "\n")
    assert refused.returncode == 2 and "record 0: home_price" in refused.stderr
