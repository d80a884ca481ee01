"""Fault tests: real servers stopped, killed and restarted under load."""

from __future__ import annotations

from dataclasses import dataclass

from storage.postgres import connect


@dataclass
class Logged:
    rows: int
    distinct: int  # distinct (request id, game id): equals rows when nothing is duplicated
    request_ids: set[str]


async def logged(dsn: str, prefix: str) -> Logged:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT request_id, game_id FROM prediction_log WHERE request_id LIKE $1",
            f"{prefix}-%",
        )
    finally:
        await conn.close()
    pairs = {(r["request_id"], r["game_id"]) for r in rows}
    return Logged(len(rows), len(pairs), {r["request_id"] for r in rows})


async def wait_logged(dsn: str, prefix: str, expected: int, seconds: float = 60) -> Logged:
    import asyncio
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            found = await logged(dsn, prefix)
            if found.rows >= expected or time.monotonic() > deadline:
                return found
        except OSError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.25)
