"""What every report carries besides its figures (the machine, its load, the code measured)
and how it is written (JSON files under reports/, printed as well)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def machine() -> str:
    """``x86_64, 2 cores``."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def load_average() -> list[float]:
    """The 1/5/15-minute load average (others on a shared machine show here)."""
    return [round(x, 2) for x in os.getloadavg()]


def git_state() -> dict[str, Any]:
    """Which code was measured (read-only git queries): HEAD and uncommitted changes."""

    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", *cmd], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    status = git("status", "--porcelain").splitlines()
    return {"head": git("rev-parse", "--short", "HEAD"), "uncommitted": [x for x in status if x]}


def write_json(path: Path, payload: Any, echo: bool = True) -> None:
    """``payload`` as indented JSON at ``path`` (folders made); printed too when ``echo``."""
    text = json.dumps(payload, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if echo:
        print(text)


def sayer(name: str) -> Callable[[str], None]:
    """A progress printer: ``[name HH:MM:SS] message``, local time, flushed."""

    def say(msg: str) -> None:
        stamp = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
        print(f"[{name} {stamp}] {msg}", flush=True)

    return say


def print_figures(figures: Any, as_json: bool) -> None:
    """Indented JSON (``--json``; orjson: datetimes as ISO 8601), else as Python prints it."""
    import orjson

    print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() if as_json else figures)
