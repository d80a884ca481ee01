"""Embedded PostgreSQL and Valkey (Redis) servers, started from pip-installed binaries.

Used when no address is configured. Each server keeps its data under a directory of the
state folder, records the port it listens on, is reused across runs (a second ``start`` finds
it running) and is stopped cleanly (``pg_ctl stop -m fast``; SIGTERM makes Valkey save first).
This module pairs them under a state directory and is where the rest of the project imports
them from; each server lives in its own module (``embedded_postgres.py``,
``embedded_valkey.py``), what they share in ``embedded_process.py``.
"""

from __future__ import annotations

from pathlib import Path

from storage.embedded_postgres import EmbeddedPostgres
from storage.embedded_process import EmbeddedServerError, ServerStatus, free_port
from storage.embedded_valkey import EmbeddedValkey

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "EmbeddedValkey",
    "ServerStatus",
    "embedded_servers",
    "free_port",
]


def embedded_servers(
    state_dir: Path, *, durable: bool = True
) -> tuple[EmbeddedPostgres, EmbeddedValkey]:
    return (
        EmbeddedPostgres(state_dir / "postgres", durable=durable),
        EmbeddedValkey(state_dir / "redis", durable=durable),
    )
