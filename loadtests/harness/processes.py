"""Processes a benchmark starts: each in its own session, registered, and stopped by its own
pid and process group only (never by name), whatever happens; plus the signal handling that
turns SIGTERM/SIGHUP into the same clean-up as Ctrl-C, and output redirection for children
that inherit this process's stdout/stderr."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

# Settings of this shell that would leak into a server started for a measurement.
_FOREIGN_ENV = ("FIRSTPITCH_", "MLSERVER_", "UVICORN_", "OMP_")


def base_env() -> dict[str, str]:
    """This process's environment without the servers' own settings (and PYTHONPATH)."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(_FOREIGN_ENV) or k == "PYTHONPATH":
            env.pop(k)
    return env


class Processes:
    """Children started in their own session (pgid = pid); stopped by pid / pgid only."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def adopt(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Register a child started elsewhere (in its own session) to be stopped here."""
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 30.0) -> dict[str, Any]:
        """SIGTERM the root, wait, then SIGKILL whatever is left of its tree and group."""
        t0, graceful = time.monotonic(), True
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
        except psutil.NoSuchProcess:
            family = []
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                graceful = False
        _, alive = psutil.wait_procs([p for p in family if p.pid != proc.pid], timeout=5)
        graceful = graceful and not alive
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: pgid == pid
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)
        return {
            "stop_s": round(time.monotonic() - t0, 1),
            "graceful": graceful,
            "returncode": proc.returncode,
        }

    def stop_all(self, grace: float = 10.0) -> None:
        for proc in list(reversed(self.procs)):
            with contextlib.suppress(Exception):
                self.stop(proc, grace=grace)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt meanwhile (so ``finally`` blocks
    stop what was started); the previous handlers are restored after."""
    old = {s: signal.signal(s, _raise_interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def ignore_interrupts() -> None:
    """During the clean-up: a second Ctrl-C must not skip it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def fds_to(path: Path) -> Iterator[None]:
    """Point this process's stdout/stderr at ``path`` meanwhile (children inherit them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
