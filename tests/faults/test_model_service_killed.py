"""The model-service process killed under load: quick 503s, recovery when it is back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from firstpitch.settings import Settings
from tests.e2e.conftest import start_service
from tests.faults.load import Load, hold, report, today, wait_for


def model_workers(root_pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            if "firstpitch-models" in child.cmdline():  # --service-name of runners/
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


async def test_model_service_killed_answers_503_then_recovers(
    settings: Settings, ingested: str, champions: dict[str, object], tmp_path: Path
) -> None:
    # Every request needs the models: no prediction cache.
    svc = start_service(settings, ingested, tmp_path, FIRSTPITCH_INFERENCE="service",
                        FIRSTPITCH_PREDICTION_CACHE="false")  # fmt: skip
    try:
        games = await today(svc.url, svc.headers)
        load = Load(svc.url, svc.headers, games)
        load.start()
        await hold(1.5)
        (worker,) = model_workers(svc.proc.pid)
        killed_at = time.monotonic()
        os.kill(worker.pid, signal.SIGKILL)

        async def respawned() -> bool:
            return any(w.pid != worker.pid for w in model_workers(svc.proc.pid))

        await wait_for(respawned, within=30)
        # Its successor is held stopped for a while (accepting, never answering), so the
        # outage outlasts the model deadline however fast the process comes back.
        (successor,) = [w for w in model_workers(svc.proc.pid) if w.pid != worker.pid]
        os.kill(successor.pid, signal.SIGSTOP)
        await hold(4)
        os.kill(successor.pid, signal.SIGCONT)
        await wait_for(lambda: _recent_ok(load), within=90)
        back_at = time.monotonic()
        await hold(1)
        await load.stop()
    finally:
        svc.stop()
    before = [o for o in load.between(0, killed_at) if o.started + o.latency_s < killed_at]
    gap = load.between(killed_at, back_at)
    after = load.between(back_at)
    assert before and load.statuses(before) == {200: len(before)}
    assert set(load.statuses()) <= {200, 503}, load.statuses()  # never a 500
    failed = [o for o in gap if o.status == 503]
    assert failed, "the kill went unnoticed"
    assert {o.error for o in failed} == {"unavailable"}
    # A dead process's socket still accepts (BentoML's arbiter holds it): the first calls
    # wait out the 2 s model deadline, the breaker then answers at once.
    slowest = max(o.latency_s for o in failed)
    assert slowest < 3.0, f"a 503 took {slowest:.2f} s"
    fast = [o for o in failed if o.latency_s < 0.5]
    outage = back_at - killed_at
    report("model_service_killed", load, unavailable=len(failed), fast_503=len(fast),
           slowest_503_ms=slowest * 1000, back_after_s=outage)  # fmt: skip
    assert len(fast) > len(failed) / 2, "the breaker did not make 503s fast"
    assert after and load.statuses(after) == {200: len(after)}


async def _recent_ok(load: Load) -> bool:
    recent = load.outcomes[-10:]
    return len(recent) == 10 and all(o.status == 200 for o in recent)
