"""The ``FAULT {json}`` lines: each fault scenario under load prints one (requests, statuses,
served and logged records, timings), and the soak collects them from pytest's output."""

from __future__ import annotations

import json
from typing import Any

MARKER = "FAULT {"


def emit(line: dict[str, Any]) -> None:
    """Print one scenario's line (flushed: pytest -s interleaves it with its own)."""
    print("FAULT " + json.dumps(line), flush=True)


def collect(text: str) -> list[dict[str, Any]]:
    """Every scenario line in ``text``; pytest's progress dots may precede one, so the JSON
    after the marker is taken."""
    return [
        json.loads(ln[ln.index(MARKER) + len(MARKER) - 1 :])
        for ln in text.splitlines()
        if MARKER in ln
    ]
