"""What of a load reached the prediction log: rows by request-id prefix (every request of a
closed-loop driver carries ``<prefix>-<n>``) or by one request id (a wrk run's), and the
shadow records; read from PostgreSQL after the load."""

from __future__ import annotations

import asyncio
import time
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


async def rows_of_request(dsn: str, request_id: str) -> int:
    """Rows logged under one request id (a wrk run sends one with every request)."""
    conn = await connect(dsn)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM prediction_log WHERE request_id = $1", request_id
        )
    finally:
        await conn.close()
    return int(n)


async def shadow_records(dsn: str) -> int:
    """Records of challengers scored in shadow."""
    conn = await connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM prediction_log WHERE shadow"))
    finally:
        await conn.close()
