"""``firstpitch serve``: bring everything up, run ``bentoml serve``, stop children cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from firstpitch import serve_replay
from firstpitch.bootstrap import bring_up
from firstpitch.runtime import Endpoints, configure_environment, resolve_endpoints
from firstpitch.serve_replay import ReplayPlan
from firstpitch.settings import PROJECT_ROOT, Settings
from storage.embedded import embedded_servers

Say = Callable[[str], None]
EXAMPLE_GAME = "CHN202104010"
# A graceful stop flushes the prediction log (bounded: storage/prediction_log.py) and closes
# the clients; past this the process tree is killed.
STOP_GRACE_S = 60.0
# uvicorn's wait for open requests at a stop (its default is for ever, and BentoML gives a
# worker a day to stop); event streams end at once (firstpitch/serving/draining.py).
REQUESTS_GRACE_S = 20


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _example_game(settings: Settings, dsn: str) -> str:
    from firstpitch.clock import Clock
    from storage import postgres
    from storage.prediction_queries import games_on

    async def pick() -> str:
        conn = await postgres.connect(dsn)
        try:
            ids = await games_on(conn, Clock(settings.now, settings.tz).today())
        finally:
            await conn.close()
        return ids[0] if ids else EXAMPLE_GAME

    return asyncio.run(pick())


def launch(
    settings: Settings, endpoints: Endpoints, host: str, port: int, **extra_env: str
) -> subprocess.Popen[bytes]:
    """Start ``bentoml serve`` of service.py in its own process group."""
    env = (
        os.environ
        | {
            "FIRSTPITCH_POSTGRES_DSN": endpoints.postgres_dsn,
            "FIRSTPITCH_REDIS_URL": endpoints.redis_url,
            "FIRSTPITCH_STATE_DIR": str(settings.state_dir),
            "BENTOML_HOME": str(settings.bentoml_home),
            "BENTOML_DO_NOT_TRACK": "true",
        }
        | extra_env
    )
    bentoml = Path(sys.executable).parent / "bentoml"
    cmd = [str(bentoml), "serve", "service:FirstPitch", "--host", host, "--port", str(port),
           "--working-dir", str(PROJECT_ROOT),
           "--timeout-graceful-shutdown", str(REQUESTS_GRACE_S)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (graceful: the workers flush the prediction log), then SIGKILL whatever of
    the process tree is left. BentoML's workers run in sessions of their own, so the tree is
    taken before stopping rather than killed by process group."""
    import psutil

    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(tree, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _wait(proc: subprocess.Popen[bytes], stopping: list[float], say: Say) -> int | None:
    """The service's exit code; None when it has not stopped ``STOP_GRACE_S`` after a stop
    signal (its tree is then killed: a stop must end, even if a worker hangs)."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(timeout=0.5)
        if stopping and time.monotonic() - stopping[0] > STOP_GRACE_S:
            say(f"the service did not stop within {STOP_GRACE_S:g} s; killing it")
            return None


def auth_for(settings: Settings, configured: dict[str, bool], environ: Mapping[str, str]) -> bool:
    """API keys are required unless this is the embedded demo (no server configured) and
    nobody asked for them explicitly."""
    if not any(configured.values()) and "FIRSTPITCH_AUTH_ENABLED" not in environ:
        return False
    return settings.auth_enabled


def serve(
    settings: Settings, host: str, port: int, say: Say, replay: ReplayPlan | None = None
) -> int:
    configure_environment(settings)
    servers = embedded_servers(settings.state_dir)
    configured = {"postgres": settings.postgres_dsn is not None,
                  "redis": settings.redis_url is not None}  # fmt: skip
    ours = [s for s in servers if not configured[s.name] and not s.status().running]
    endpoints = resolve_endpoints(settings)
    extra: dict[str, str] = {}
    if replay is not None:
        asyncio.run(bring_up(settings, endpoints, say))  # the champions, from the full history
        say(f"replay: a database of the history before {replay.first} (loading it afresh)")
        settings, endpoints, replay_key = serve_replay.setup(settings, endpoints, replay)
        extra = {"FIRSTPITCH_CLOCK_DRIVABLE": "true",
                 "FIRSTPITCH_NOW": replay.starts_at.isoformat()}  # fmt: skip
    asyncio.run(bring_up(settings, endpoints, say))
    auth = auth_for(settings, configured, os.environ)
    if not auth:
        say("WARNING: API keys are OFF (embedded demo): anyone who can reach this port can "
            "call every endpoint. Production: FIRSTPITCH_AUTH_ENABLED=true (the default with "
            "configured servers) and `firstpitch keys create`.")  # fmt: skip
    proc = launch(
        settings, endpoints, host, port, FIRSTPITCH_AUTH_ENABLED=str(auth).lower(), **extra
    )
    player: subprocess.Popen[bytes] | None = None
    stopping: list[float] = []  # when the first stop signal came

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        say(f"received {signal.Signals(signum).name}: stopping the service")
        stopping.append(time.monotonic())
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = f"http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}"
    if wait_ready(url, proc):
        game = _example_game(settings, endpoints.postgres_dsn)
        body = json.dumps({"game_id": game, "include_explanation": True})
        say(f"firstpitch is serving at {url}  (schema: {url}/openapi.json)")
        key = ' -H "Authorization: Bearer $FIRSTPITCH_API_KEY"' if auth else ""
        if auth:
            say("API keys are on: FIRSTPITCH_API_KEY=$(firstpitch keys create --name me "
                "--scope predictions --scope models)")  # fmt: skip
        say(f"try: curl -s -X POST {url}/api/v1/predict -H 'content-type: application/json'"
            f"{key} -d '{body}'")  # fmt: skip
        say(f"     curl -s{key} {url}/api/v1/predictions/today")
        if replay is not None:
            say(f"replaying {replay.first}..{replay.last} at {replay.speed:g}x the season's "
                f"pace; watch: curl -sN{key} {url}/api/v1/stream  (clock: {url}/api/v1/clock)")  # fmt: skip
            player = serve_replay.start(replay, url, replay_key)
    try:
        code = _wait(proc, stopping, say)
    finally:
        if player is not None and player.poll() is None:
            player.terminate()
            player.wait(timeout=10)
        stop(proc, timeout=5)
        for server in ours:
            server.stop()
            say(f"stopped embedded {server.name}")
    if code is None:
        return 1
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
