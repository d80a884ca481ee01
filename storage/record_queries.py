"""Reading logged prediction records back whole: one by id, or a sample of a period."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from storage.log_records import COLUMNS
from storage.postgres import Conn

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM prediction_log"


def _row(r: Any) -> dict[str, Any]:
    d = dict(r)
    for key in ("odds_used", "recommendations", "policy"):
        if d[key] is not None:
            d[key] = json.loads(d[key])
    d["record_id"] = str(d["record_id"])
    return d


async def by_id(conn: Conn, record_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"{_SELECT} WHERE record_id = $1", record_id)
    return None if row is None else _row(row)


async def sample(conn: Conn, since: datetime, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` replayable records predicted at or after ``since``, drawn at random."""
    rows = await conn.fetch(
        f"{_SELECT} WHERE predicted_at >= $1 AND feature_vector IS NOT NULL "
        "ORDER BY random() LIMIT $2",
        since,
        n,
    )
    return [_row(r) for r in rows]


async def count_since(conn: Conn, since: datetime) -> tuple[int, int]:
    """(records predicted since, of which replayable)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(feature_vector) AS replayable FROM prediction_log "
        "WHERE predicted_at >= $1",
        since,
    )
    assert row is not None  # an aggregate always returns its row
    return int(row["n"]), int(row["replayable"])
