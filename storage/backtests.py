"""Backtest runs in Postgres (migration 0013): the run, its records, its outcomes, and the
model statistics read from them.

A run is written in one transaction — the run row, one record per game as the serving path
logged it, and the outcome terms ``backtest_resolve`` derives from them — so a run exists
whole or not at all. Its records live apart from ``prediction_log``: nothing live reads them.
The statistics are those of live outcomes (``storage/outcomes.py``): the same aggregate over
rows with the same columns, here one run's.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from storage import outcomes
from storage.postgres import Conn

RUN_ID = re.compile(r"bt-[0-9]{4}-[0-9a-f]{8}")
RUN_ID_PATTERN = f"^{RUN_ID.pattern}$"
RECORD_COLUMNS = (
    "record_id",
    "game_id",
    "model_name",
    "model_version",
    "home_model_version",
    "total_model_version",
    "feature_version",
    "feature_hash",
    "feature_as_of",
    "feature_cutoff",
    "predicted_at",
    "home_ml_probability",
    "total_over_probability",
    "home_ml_confidence",
    "total_over_confidence",
    "odds_used",
    "recommendations",
    "latency_ms",
    "feature_vector",
    "policy",
)
TIMES = ("feature_as_of", "feature_cutoff", "predicted_at")
JSON = ("odds_used", "recommendations", "policy")


def new_run_id(season: int) -> str:
    return f"bt-{season}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Run:
    run_id: str
    season: int
    date_from: date
    date_to: date
    model_name: str
    home_model_version: str
    total_model_version: str
    feature_version: str
    policy: dict[str, Any]
    games: int
    started_at: datetime
    finished_at: datetime
    elapsed_s: float
    summary: dict[str, Any]

    def version_of(self, prediction_type: str) -> str:
        return (
            self.home_model_version if prediction_type == "moneyline" else self.total_model_version
        )


def _row(run_id: str, record: dict[str, Any]) -> tuple[Any, ...]:
    values: list[Any] = [run_id]
    for column in RECORD_COLUMNS:
        value = record[column]
        if column == "record_id":
            value = uuid.UUID(value)
        elif column in TIMES:
            value = datetime.fromisoformat(value)
        elif column in JSON:
            value = json.dumps(value)
        values.append(value)
    return tuple(values)


async def save(conn: Conn, run: Run, records: list[dict[str, Any]]) -> int:
    """Write the run, its records and their outcomes in one transaction; the outcome rows."""
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO backtest_runs (run_id, season, date_from, date_to, model_name,
                   home_model_version, total_model_version, feature_version, policy, games,
                   started_at, finished_at, elapsed_s, summary)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '{}')""",
            run.run_id, run.season, run.date_from, run.date_to, run.model_name,
            run.home_model_version, run.total_model_version, run.feature_version,
            json.dumps(run.policy), run.games, run.started_at, run.finished_at, run.elapsed_s,
        )  # fmt: skip
        await conn.copy_records_to_table(
            "backtest_predictions",
            records=[_row(run.run_id, r) for r in records],
            columns=["run_id", *RECORD_COLUMNS],
        )
        return int(
            await conn.fetchval("SELECT backtest_resolve($1, $2)", run.run_id, run.finished_at)
        )


async def set_summary(conn: Conn, run_id: str, summary: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE backtest_runs SET summary = $2 WHERE run_id = $1", run_id, json.dumps(summary)
    )


async def delete(conn: Conn, run_id: str) -> None:
    await conn.execute("DELETE FROM backtest_runs WHERE run_id = $1", run_id)


async def get(conn: Conn, run_id: str) -> Run | None:
    row = await conn.fetchrow("SELECT * FROM backtest_runs WHERE run_id = $1", run_id)
    if row is None:
        return None
    d = dict(row)
    d["policy"] = json.loads(d["policy"])
    d["summary"] = json.loads(d["summary"])
    return Run(**d)


async def records(conn: Conn, run_id: str) -> list[dict[str, Any]]:
    """The run's records, as stored."""
    rows = await conn.fetch(
        "SELECT * FROM backtest_predictions WHERE run_id = $1 ORDER BY predicted_at, game_id",
        run_id,
    )
    out = []
    for row in rows:
        d = dict(row)
        for column in JSON:
            d[column] = json.loads(d[column])
        out.append(d)
    return out


async def outcome_rows(conn: Conn, run_id: str, prediction_type: str) -> list[dict[str, Any]]:
    """The run's outcome rows of one prediction type, in game order."""
    rows = await conn.fetch(
        """SELECT o.*, p.odds_used AS odds FROM backtest_outcomes o
           JOIN backtest_predictions p USING (run_id, game_id)
           WHERE o.run_id = $1 AND o.prediction_type = $2
           ORDER BY o.first_pitch, o.game_id""",
        run_id,
        prediction_type,
    )
    out = []
    for row in rows:
        d = dict(row)
        d["recommendation"] = json.loads(d["recommendation"])
        d["odds"] = json.loads(d["odds"])
        out.append(d)
    return out


CLOSING_SQL = """
SELECT DISTINCT ON (s.game_id) s.game_id, s.{first} AS first, s.{second} AS second, s.line
FROM odds_snapshots s JOIN games g USING (game_id)
WHERE s.game_id = ANY($1) AND s.market = $2 AND s.observed_at <= g.scheduled_start
  AND s.{first} IS NOT NULL AND s.{second} IS NOT NULL
ORDER BY s.game_id, s.observed_at DESC, s.source DESC
"""


CLOSING = {
    "moneyline": CLOSING_SQL.format(first="home_price", second="away_price"),
    "total": CLOSING_SQL.format(first="over_price", second="under_price"),
}


async def closing_prices(
    conn: Conn, game_ids: list[str], prediction_type: str
) -> dict[str, dict[str, Any]]:
    """Each game's last two-sided snapshot of the market at or before first pitch (ties: the
    greater source, as closing-line value takes it): home/away, or over/under and the line."""
    rows = await conn.fetch(CLOSING[prediction_type], game_ids, prediction_type)
    return {r["game_id"]: dict(r) for r in rows}


# The live aggregate over the run's rows: $2 is the instant results are known by (the run's
# end), $3 a version or NULL, $4 the run, $5/$6 an optional range of local game dates.
RUN_WINDOW = "o.run_id = $4 AND ($5::date IS NULL OR o.game_date BETWEEN $5 AND $6)"


def _run_sql(version: str) -> str:
    sql = outcomes.PERFORMANCE_SQL.format(window=RUN_WINDOW, version=version)
    if "FROM prediction_outcomes o" not in sql:  # the live aggregate's shape changed
        raise RuntimeError("storage.outcomes.PERFORMANCE_SQL no longer reads prediction_outcomes o")
    return sql.replace("FROM prediction_outcomes o", "FROM backtest_outcomes o")


RUN_PERFORMANCE = {
    "every": _run_sql(outcomes.EVERY_VERSION),
    "one": _run_sql(outcomes.ONE_VERSION),
}


async def performance(
    conn: Conn,
    run: Run,
    prediction_type: str,
    version: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, dict[str, Any]]:
    """Each version's figures in the run (only the one asked for, if any), as the live
    performance computes them."""
    rows = await conn.fetch(
        RUN_PERFORMANCE["every" if version is None else "one"], prediction_type, run.finished_at, version, run.run_id,
        date_from, date_to,
    )  # fmt: skip
    return {r["version"]: outcomes.shape(r, prediction_type) for r in rows}
