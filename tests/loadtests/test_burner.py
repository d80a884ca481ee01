"""The floor benchmark's burner (``loadtests/harness/burner.py``) runs at the priority it was
asked for and keeps its duty cycle: busy part of each period, asleep the rest, so it uses
some CPU but not a whole core. (How much the request path pays for it is the benchmark's
to measure, not a test's.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from loadtests.harness.processes import base_env
from loadtests.harness.reports import PROJECT_ROOT


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtests.harness.burner", *args],
        cwd=PROJECT_ROOT, env=base_env(), start_new_session=True,
    )  # fmt: skip


def _lowered(proc: subprocess.Popen[bytes], policy: str) -> bool:
    if policy == "idle":
        return os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    return (
        os.sched_getscheduler(proc.pid) == os.SCHED_OTHER and psutil.Process(proc.pid).nice() == 19
    )


def _settled(proc: subprocess.Popen[bytes], policy: str) -> psutil.Process:
    """The burner once it has lowered itself and started its loop (numpy imported first,
    which on a busy machine takes a while): at most 20 s."""
    p = psutil.Process(proc.pid)
    for _ in range(400):
        if proc.poll() is not None or (_lowered(proc, policy) and p.cpu_times().user > 0.3):
            break
        time.sleep(0.05)
    assert proc.poll() is None
    return p


@pytest.mark.parametrize("policy", ["idle", "nice"])
def test_the_burner_runs_below_everything_else(policy: str) -> None:
    proc = _start("--share", "0.3", "--policy", policy)
    try:
        p = _settled(proc, policy)
        assert _lowered(proc, policy), (os.sched_getscheduler(proc.pid), p.nice())
        # the duty cycle: it sleeps between bursts (a full-time spinner would never be seen
        # sleeping in 200 looks a millisecond apart)
        states = set()
        for _ in range(200):
            states.add(p.status())
            time.sleep(0.001)
        assert psutil.STATUS_SLEEPING in states
    finally:
        proc.kill()
        proc.wait()
