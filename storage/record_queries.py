"""Reading logged prediction records back whole: one by id, or a sample of a period.

A record's vector is its own (inline: records from before vectors were stored once, or one
that does not hash to its feature_hash) or the one ``feature_vectors`` holds under its hash.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from storage.log_records import COLUMNS
from storage.postgres import Conn

_VECTOR = "COALESCE(l.feature_vector, v.feature_vector)"
_FROM = (
    "FROM prediction_log l LEFT JOIN feature_vectors v ON v.feature_hash = l.feature_hash "
    "AND l.feature_vector IS NULL"
)
_SELECT = (
    "SELECT "
    + ", ".join(
        f"{_VECTOR} AS feature_vector" if c == "feature_vector" else f"l.{c}" for c in COLUMNS
    )
    + f" {_FROM}"
)
# replayable: a vector and the betting policy (retention clears the policy of old records)
_REPLAYABLE = f"{_VECTOR} IS NOT NULL AND l.policy IS NOT NULL"


def _row(r: Any) -> dict[str, Any]:
    d = dict(r)
    for key in ("odds_used", "recommendations", "policy"):
        if d[key] is not None:
            d[key] = json.loads(d[key])
    d["record_id"] = str(d["record_id"])
    return d


async def by_id(conn: Conn, record_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"{_SELECT} WHERE l.record_id = $1", record_id)
    return None if row is None else _row(row)


async def sample(conn: Conn, since: datetime, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` replayable records predicted at or after ``since``, drawn at random."""
    rows = await conn.fetch(
        f"{_SELECT} WHERE l.predicted_at >= $1 AND {_REPLAYABLE} ORDER BY random() LIMIT $2",
        since,
        n,
    )
    return [_row(r) for r in rows]


async def count_since(conn: Conn, since: datetime) -> tuple[int, int]:
    """(records predicted since, of which replayable)."""
    row = await conn.fetchrow(
        f"SELECT count(*) AS n, count(*) FILTER (WHERE {_REPLAYABLE}) AS replayable {_FROM} "
        "WHERE l.predicted_at >= $1",
        since,
    )
    assert row is not None  # an aggregate always returns its row
    return int(row["n"]), int(row["replayable"])
