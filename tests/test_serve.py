"""`firstpitch serve`: comes up, answers, and stops its whole process tree on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from firstpitch.settings import Settings
from storage.embedded import free_port
from tests.e2e.conftest import admin_key


def test_serve_answers_then_stops_cleanly(
    settings: Settings, ingested: str, champions: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    env = os.environ | {
        "FIRSTPITCH_POSTGRES_DSN": ingested,
        "FIRSTPITCH_REDIS_URL": settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
        "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
        "FIRSTPITCH_DATA_DIR": str(settings.data_dir),
        "FIRSTPITCH_SPILL_DIR": str(tmp_path / "spill"),
        "FIRSTPITCH_NOW": "2021-07-04T15:00:00Z",
    }
    proc = subprocess.Popen([sys.executable, "-m", "firstpitch", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180  # serve says where it listens once it is ready
        while time.monotonic() < deadline and proc.poll() is None:
            if any("serving at" in line for line in lines):
                break
            time.sleep(0.5)
        key = {"Authorization": f"Bearer {admin_key(ingested)}"}  # configured servers: auth on
        assert httpx.get(f"{url}/api/v1/predictions/today", timeout=60).status_code == 401
        today = httpx.get(f"{url}/api/v1/predictions/today", headers=key, timeout=60)
        assert today.status_code == 200 and today.json()["count"] == 16
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "bentoml runs as a child process"
    finally:
        proc.send_signal(signal.SIGTERM)
        hung = False
        try:
            proc.wait(timeout=90)  # serve itself kills a tree that outlives its grace period
        except subprocess.TimeoutExpired:
            hung = True
            for child in [*psutil.Process(proc.pid).children(recursive=True), proc]:
                with contextlib.suppress(psutil.Error, ProcessLookupError):
                    child.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
    out = "".join(lines)
    assert not hung, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
    assert "serving at" in out and "/api/v1/predict" in out  # the URL and an example request
    assert "keys create" in out and "Authorization: Bearer" in out and "WARNING" not in out
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[p.pid for p in alive]}"
