"""`firstpitch warm` against a running service with API keys on (the production default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.conftest import RunningService, admin_key


def _warm(service: RunningService, dsn: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FIRSTPITCH_POSTGRES_DSN": dsn}
    env.pop("FIRSTPITCH_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "firstpitch", "warm", "--url", service.url, "--date", "2021-07-04",
         *extra], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_warm_sends_its_key_and_says_when_one_is_missing(
    service: RunningService, ingested: str
) -> None:
    refused = _warm(service, ingested)
    assert refused.returncode != 0 and "needs an API key" in refused.stderr + refused.stdout
    done = _warm(service, ingested, "--api-key", admin_key(ingested))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"date": "2021-07-04", "warmed": 16}
