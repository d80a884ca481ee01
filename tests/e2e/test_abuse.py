"""Anonymous abuse against the real server, refused: bounded /metrics, no Host redirects."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.e2e.conftest import RunningService

GAME_ID = "CIN202107040"
SERIES = re.compile(r"^([a-z_]+\{[^}]*\})", re.MULTILINE)


def _series(text: str) -> set[str]:
    return set(SERIES.findall(text))


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
    assert _series(after) == _series(before), sorted(_series(after) - _series(before))[:5]
    assert len(after) < len(before) + 2_000  # only counter values changed
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
