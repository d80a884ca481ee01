"""Access control on the real server: keys, scopes, revocation, open probes, no secrets out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from storage.postgres import connect
from tests.e2e.conftest import RunningService, create_key

GAME = {"game_id": "CIN202107040"}


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FIRSTPITCH_POSTGRES_DSN": dsn}
    return subprocess.run([sys.executable, "-m", "firstpitch", "keys", *args],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_key_get_401(service: RunningService) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as anon:
        for headers in ({}, _bearer("nope"), _bearer("fpk_000000000000_" + "x" * 43),
                        {"Authorization": "Basic dXNlcjpwYXNz"}, {"X-API-Key": ""}):  # fmt: skip
            resp = anon.post("/api/v1/predict", json=GAME, headers=headers)
            assert resp.status_code == 401, (headers, resp.text)
            body = resp.json()
            assert body["error"] == "unauthenticated" and body["request_id"]
            assert resp.headers["www-authenticate"].startswith("Bearer")
            assert "x" * 43 not in resp.text  # the presented key is never echoed
        assert anon.get("/api/v1/models/active").status_code == 401


def test_probes_metrics_and_schema_stay_open(service: RunningService) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as anon:
        for path in ("/health", "/health/ready", "/health/live", "/metrics", "/openapi.json"):
            assert anon.get(path).status_code == 200, path
        schema = anon.get("/openapi.json").json()
        assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
        predict = schema["paths"]["/api/v1/predict"]["post"]
        assert predict["security"] and "`predictions` scope" in predict["description"]
        assert "security" not in schema["paths"]["/health"]["get"]


def test_scopes_are_enforced_with_403(service: RunningService, ingested: str) -> None:
    predictions = create_key(ingested, "predictions-only", ("predictions",))
    models = create_key(ingested, "models-only", ("models",))
    with httpx.Client(base_url=service.url, timeout=60) as client:
        assert (
            client.post("/api/v1/predict", json=GAME, headers=_bearer(predictions)).status_code
            == 200
        )
        denied = client.get("/api/v1/models/active", headers=_bearer(predictions))
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        assert "'models' scope" in denied.json()["message"]
        assert client.get("/api/v1/models/active", headers={"X-API-Key": models}).status_code == 200
        assert client.get("/api/v1/predictions/today", headers=_bearer(models)).status_code == 403


def test_cli_creates_lists_and_revokes_keys_stored_hashed(
    service: RunningService, ingested: str
) -> None:
    made = _cli(ingested, "create", "--name", "cli client", "--scope", "predictions", "--json")
    assert made.returncode == 0, made.stderr
    key: dict[str, Any] = json.loads(made.stdout)
    token, key_id = key["api_key"], key["key_id"]
    assert token.startswith(f"fpk_{key_id}_") and key["scopes"] == ["predictions"]
    bad = _cli(ingested, "create", "--name", "x", "--scope", "admin")
    assert (
        bad.returncode == 2
        and "unknown scope admin" in bad.stderr
        and "Traceback" not in bad.stderr
    )

    listed = _cli(ingested, "list", "--json")
    assert listed.returncode == 0 and key_id in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout  # never the secret

    async def stored() -> str:
        conn = await connect(ingested)
        try:
            return str(await conn.fetch("SELECT * FROM api_keys"))
        finally:
            await conn.close()

    import asyncio

    assert token.split("_", 2)[2] not in asyncio.run(stored())

    with httpx.Client(base_url=service.url, timeout=60, headers=_bearer(token)) as client:
        assert client.post("/api/v1/predict", json=GAME).status_code == 200  # works at once
        revoked = _cli(ingested, "revoke", key_id)
        assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
        deadline = time.monotonic() + 30  # the service reloads keys every second here
        while client.post("/api/v1/predict", json=GAME).status_code == 200:
            assert time.monotonic() < deadline, "a revoked key kept working"
            time.sleep(0.2)
        assert client.post("/api/v1/predict", json=GAME).status_code == 401
    unknown = _cli(ingested, "revoke", "000000000000")
    assert unknown.returncode == 2 and "no API key" in unknown.stderr


def test_rate_limit_answers_429_with_retry_after(service: RunningService, ingested: str) -> None:
    token = create_key(ingested, "limited", ("predictions",), rate_limit=20)
    with httpx.Client(base_url=service.url, timeout=60, headers=_bearer(token)) as client:
        codes = [client.post("/api/v1/predict", json=GAME) for _ in range(30)]
    accepted = [r for r in codes if r.status_code == 200]
    limited = [r for r in codes if r.status_code == 429]
    assert 20 <= len(accepted) <= 21 and len(accepted) + len(limited) == 30
    assert limited[0].json()["error"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1


def test_no_secret_reaches_the_log(service: RunningService, ingested: str) -> None:
    secret = service.headers["Authorization"].split("_", 2)[2]
    log = service.log()
    assert secret not in log
    password = ingested.split("@")[0].rsplit(":", 1)[-1]
    assert "postgres://" not in log and "postgresql://" not in log
    assert len(password) < 4 or password not in log
