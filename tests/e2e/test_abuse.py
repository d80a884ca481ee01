"""Abuse against the real server, refused: bounded /metrics, no Host redirects, what each
scope and the open /health show, batches charged by games."""

from __future__ import annotations

import re
import secrets
import time

import httpx

from tests.e2e.conftest import RunningService, create_key

GAME_ID = "CIN202107040"
SERIES = re.compile(r"^([a-z_]+\{[^}]*\})", re.MULTILINE)


def _series(text: str) -> set[str]:
    """The API service's HTTP series (the model service and the warmer add their own)."""
    return {s for s in SERIES.findall(text) if 'runner_name="firstpitch"' in s}


def _made_up_paths(n: int) -> list[tuple[str, str]]:
    """(marker, path): unknown paths, paths under routes with parameters, and long ones."""
    out = []
    for i in range(n):
        mark = secrets.token_hex(8)
        if i % 10 == 0:
            out.append((mark, f"/{mark}" + "x" * 6000))
        elif i % 3 == 0:
            out.append((mark, f"/api/v1/models/{mark}/recent-predictions"))
        else:
            out.append((mark, f"/{mark}/{i}"))
    return out


def test_metrics_series_stay_bounded_whatever_the_paths(service: RunningService) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as anon:
        assert anon.get(f"/api/v1/predict/{GAME_ID}", headers=service.headers).status_code in (
            200,
            404,
        )
        for _, path in _made_up_paths(100):  # every (route, status) pair seen once
            anon.get(path)
        before = anon.get("/metrics").text
        marks = []
        for mark, path in _made_up_paths(300):
            marks.append(mark)
            assert anon.get(path).status_code in (401, 404)
        after = anon.get("/metrics").text
    print(f"/metrics: {len(before)} bytes before 300 made-up paths, {len(after)} after; "
          f"API series {len(_series(before))} -> {len(_series(after))}")  # fmt: skip
    assert _series(after) == _series(before), sorted(_series(after) - _series(before))[:5]
    assert len(after) < len(before) + 20_000  # not 300 requests' worth of new series
    assert not [m for m in marks if m in after]
    assert GAME_ID not in after  # other clients' paths are not shown
    assert 'endpoint="/api/v1/predict/{game_id}"' in after
    assert 'endpoint="unmatched"' in after


def test_no_redirect_is_built_from_the_host_header(service: RunningService) -> None:
    with httpx.Client(base_url=service.url, timeout=30, follow_redirects=False) as client:
        for headers in ({}, service.headers):
            for path in ("/api/v1/models/active/", "/health/", "/api/v1/predict/batch/"):
                resp = client.get(path, headers=headers | {"Host": "evil.example"})
                assert not 300 <= resp.status_code < 400, (path, resp.headers)
                assert resp.status_code in (401, 404), (path, resp.status_code)
                assert "evil.example" not in resp.text + str(resp.headers)
                assert resp.json()["error"] in ("unauthenticated", "http_error")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_models_scope_sees_finished_games_only(service: RunningService, ingested: str) -> None:
    models = _bearer(create_key(ingested, "models-only", ("models",)))
    path = "/api/v1/models/firstpitch-home-win/recent-predictions"
    with httpx.Client(base_url=service.url, timeout=60) as client:
        made = client.post("/api/v1/predict", json={"game_id": GAME_ID}, headers=service.headers)
        assert made.status_code == 200  # a live prediction of an unplayed game, logged
        deadline = time.monotonic() + 20
        while True:
            full = client.get(path, params={"limit": 500}, headers=service.headers).json()
            if any(p["game_id"] == GAME_ID for p in full["predictions"]):
                break
            assert time.monotonic() < deadline, "the prediction was not logged"
            time.sleep(0.2)
        live = [p for p in full["predictions"] if p["actual"] is None]
        assert live and live[0]["recommendation"] is not None
        seen = client.get(path, params={"limit": 500}, headers=models)
    assert seen.status_code == 200
    body = seen.json()
    assert all(p["home_score"] is not None for p in body["predictions"])
    assert GAME_ID not in seen.text
    assert body["count"] == len(full["predictions"]) - len(live)


def test_the_open_health_shows_status_and_failing_only(
    service: RunningService, ingested: str
) -> None:
    models = _bearer(create_key(ingested, "health-reader", ("models",)))
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for headers in ({}, _bearer("fpk_000000000000_" + "x" * 43), {"X-API-Key": "nope"}):
            public = client.get("/health", headers=headers)
            assert public.status_code == 200
            assert public.json() == {"status": "healthy", "failing": []}
        detailed = client.get("/health", headers=models).json()
    assert set(detailed) >= {"components", "log_queue_depth", "log_spill_bytes", "now"}
    assert detailed["components"]["models"]["detail"][0]["tag"]


def test_a_batch_is_charged_by_its_games(service: RunningService, ingested: str) -> None:
    with httpx.Client(base_url=service.url, timeout=60) as client:
        today = client.get("/api/v1/predictions/today", headers=service.headers).json()
        games = [p["game_id"] for p in today["predictions"]][:10]
        assert len(games) == 10
        limited = _bearer(create_key(ingested, "batches", ("predictions",), rate_limit=30))
        started = time.monotonic()
        answers = [
            client.post("/api/v1/predict/batch", json={"game_ids": games}, headers=limited)
            for _ in range(30)
        ]
        elapsed = time.monotonic() - started
        single = client.post("/api/v1/predict", json={"game_id": games[0]}, headers=limited)
    served = sum(len(r.json()) for r in answers if r.status_code == 200)
    refused = [r for r in answers if r.status_code == 429]
    # 30 a minute, a burst of 30: three batches of 10 (a game is earned every 2 s only).
    assert served == 30, (served, elapsed)
    assert len(refused) == 27 and refused[0].json()["error"] == "rate_limited"
    assert int(refused[0].headers["retry-after"]) >= 1
    assert single.status_code == 429 or elapsed > 1.5  # one game is earned after 2 s
