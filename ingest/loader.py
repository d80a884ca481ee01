"""Load raw files into PostgreSQL: one transaction per file, COPY, idempotent by content hash."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest import odds as odds_module
from ingest.errors import DataDirError, IngestError
from ingest.join import GameKey, join_odds
from ingest.known_times import announce_history
from ingest.odds import OddsGame, read_workbook, season_of
from ingest.retrosheet import GAME_COLUMNS, RESULT_COLUMNS, parse_game_log
from storage.postgres import Conn, migrate

POSTSEASON_FILES = ("glwc.txt", "gldv.txt", "gllc.txt", "glws.txt")
ODDS_COLUMNS = (
    "game_id",
    "season",
    "swapped",
    "neutral",
    "open_known_at",
    "close_known_at",
    "away_pitcher",
    "home_pitcher",
    "open_ml_away",
    "open_ml_home",
    "close_ml_away",
    "close_ml_home",
    "run_line_away",
    "run_line_away_price",
    "run_line_home",
    "run_line_home_price",
    "open_total",
    "open_over_price",
    "open_under_price",
    "close_total",
    "close_over_price",
    "close_under_price",
    "source_file",
    "source_row",
)
# The workbooks carry no timestamps: the opening line is taken as known at 09:00 local on
# game day (before any cutoff), the closing line at the scheduled first pitch.
OPENING_LINE_LOCAL = clock_time(9, 0)

Progress = Callable[[str, int], None]


@dataclass
class SeasonSummary:
    games: int = 0
    odds_games: int = 0
    odds_matched: int = 0
    odds_unmatched: int = 0


@dataclass
class IngestSummary:
    seasons: dict[str, SeasonSummary] = field(default_factory=dict)
    files_loaded: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    games_removed: int = 0  # games on or after --before, removed after loading

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["elapsed_s"] = round(self.elapsed_s, 2)
        out["odds_match_rate"] = self.match_rate
        return out

    @property
    def match_rate(self) -> float | None:
        total = sum(s.odds_games for s in self.seasons.values())
        matched = sum(s.odds_matched for s in self.seasons.values())
        return round(matched / total, 6) if total else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locate_files(data_dir: Path, seasons: set[int]) -> tuple[list[Path], list[Path]]:
    retro, odds = data_dir / "retrosheet", data_dir / "odds"
    if not retro.is_dir():
        raise DataDirError(
            f"{data_dir} is not a firstpitch data directory: it has no retrosheet/ folder "
            "(set FIRSTPITCH_DATA_DIR or pass --data-dir)"
        )
    logs = [retro / f"gl{y}.txt" for y in sorted(seasons) if (retro / f"gl{y}.txt").exists()]
    if not logs:
        raise DataDirError(f"{retro} holds no game log for seasons {min(seasons)}-{max(seasons)}")
    logs += [retro / name for name in POSTSEASON_FILES if (retro / name).exists()]
    books = [p for p in sorted(odds.glob("mlb-odds-*.xlsx")) if season_of(p) in seasons]
    return logs, books


async def _unchanged(conn: Conn, name: str, seasons: set[int], sha: str) -> bool:
    rows = await conn.fetch(
        "SELECT season, sha256 FROM ingested_files WHERE file_name = $1 AND season = ANY($2)",
        name,
        list(seasons),
    )
    return {r["season"] for r in rows} >= seasons and all(r["sha256"] == sha for r in rows)


async def _record(conn: Conn, name: str, counts: dict[int, int], sha: str) -> None:
    await conn.executemany(
        """INSERT INTO ingested_files (file_name, season, sha256, row_count) VALUES ($1,$2,$3,$4)
           ON CONFLICT (file_name, season) DO UPDATE
           SET sha256 = excluded.sha256, row_count = excluded.row_count, loaded_at = now()""",
        [(name, season, sha, n) for season, n in counts.items()],
    )


async def load_game_log(conn: Conn, path: Path, seasons: set[int]) -> bool:
    """Load one game log; returns False when the same bytes were loaded before."""
    sha = _sha256(path)
    if await _unchanged(conn, path.name, seasons, sha):
        return False
    parsed = parse_game_log(path, seasons)
    present = {int(str(p.game["season"])) for p in parsed}
    async with conn.transaction():
        # Reloading games cascades to their odds, so those workbooks must be joined again.
        await conn.execute(
            "DELETE FROM ingested_files WHERE file_name LIKE 'mlb-odds-%' AND season = ANY($1)",
            list(present),
        )
        await conn.execute(
            "DELETE FROM games WHERE source_file = $1 AND season = ANY($2)",
            path.name,
            list(seasons),
        )
        await conn.copy_records_to_table(
            "games",
            columns=GAME_COLUMNS,
            records=[tuple(p.game[c] for c in GAME_COLUMNS) for p in parsed],
        )
        await conn.copy_records_to_table(
            "game_results",
            columns=RESULT_COLUMNS,
            records=[tuple(p.result[c] for c in RESULT_COLUMNS) for p in parsed],
        )
        await announce_history(conn, path.name)  # starters and lineups, at the rule's times
        counts = {s: sum(1 for p in parsed if p.game["season"] == s) for s in seasons}
        await _record(conn, path.name, counts, sha)
    return True


# A workbook's lines as odds snapshots (the history half of the one odds time series): the
# opening line at its assumed known time (kept without prices where the workbook has none, as
# the odds table holds it), the closing line and the run line at first pitch.
# Migration 0004 did the same once for databases loaded before snapshots existed.
WORKBOOK_SNAPSHOTS = """
INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price, away_price,
                            over_price, under_price, line)
SELECT game_id, 'moneyline', 'workbook', open_known_at, open_ml_home, open_ml_away,
       NULL::integer, NULL::integer, NULL::real FROM odds WHERE source_file = $1
UNION ALL
SELECT game_id, 'moneyline', 'workbook', close_known_at, close_ml_home, close_ml_away, NULL,
       NULL, NULL FROM odds WHERE source_file = $1
       AND (close_ml_home IS NOT NULL OR close_ml_away IS NOT NULL)
UNION ALL
SELECT game_id, 'total', 'workbook', open_known_at, NULL, NULL, open_over_price,
       open_under_price, open_total FROM odds WHERE source_file = $1
UNION ALL
SELECT game_id, 'total', 'workbook', close_known_at, NULL, NULL, close_over_price,
       close_under_price, close_total FROM odds WHERE source_file = $1 AND close_total IS NOT NULL
UNION ALL
SELECT game_id, 'run_line', 'workbook', close_known_at, run_line_home_price,
       run_line_away_price, NULL, NULL, run_line_home FROM odds
       WHERE source_file = $1 AND run_line_home IS NOT NULL
ON CONFLICT DO NOTHING
"""
DROP_WORKBOOK_SNAPSHOTS = """
DELETE FROM odds_snapshots WHERE source = 'workbook'
    AND game_id IN (SELECT game_id FROM odds WHERE source_file = $1)
"""


def _odds_record(
    game_id: str, odds: OddsGame, swapped: bool, start: datetime, tz: str, source: str
) -> tuple[object, ...]:
    opened = datetime.combine(odds.odds_date, OPENING_LINE_LOCAL, ZoneInfo(tz)).astimezone(UTC)
    values: dict[str, object] = {
        **{k: getattr(odds, k) for k in ODDS_COLUMNS if hasattr(odds, k)},
        "game_id": game_id,
        "swapped": swapped,
        "open_known_at": min(opened, start),
        "close_known_at": start,
        "source_file": source,
    }
    return tuple(values[c] for c in ODDS_COLUMNS)


async def load_workbook(conn: Conn, path: Path) -> tuple[bool, list[str]]:
    season = season_of(path)
    sha = _sha256(path)
    if await _unchanged(conn, path.name, {season}, sha):
        return False, []
    odds_games = read_workbook(path)
    warnings = list(odds_module.WARNINGS)
    rows = await conn.fetch(
        """SELECT g.game_id, g.game_date, g.game_num, g.away_team, g.home_team,
                  r.away_score, r.home_score, g.scheduled_start, g.park_tz
           FROM games g JOIN game_results r USING (game_id) WHERE g.season = $1""",
        season,
    )
    if not rows:
        raise IngestError(path, None, f"no {season} games are loaded; ingest the game logs first")
    keys = [
        GameKey(
            *(
                r[k]
                for k in (
                    "game_id",
                    "game_date",
                    "game_num",
                    "away_team",
                    "home_team",
                    "away_score",
                    "home_score",
                )
            )
        )
        for r in rows
    ]
    when = {r["game_id"]: (r["scheduled_start"], r["park_tz"]) for r in rows}
    joined = join_odds(odds_games, keys)
    async with conn.transaction():
        await conn.execute(DROP_WORKBOOK_SNAPSHOTS, path.name)
        await conn.execute("DELETE FROM odds WHERE source_file = $1", path.name)
        await conn.execute("DELETE FROM odds_unmatched WHERE source_file = $1", path.name)
        await conn.copy_records_to_table(
            "odds",
            columns=ODDS_COLUMNS,
            records=[
                _odds_record(gid, o, sw, *when[gid], path.name) for gid, o, sw in joined.matched
            ],
        )
        await conn.copy_records_to_table(
            "odds_unmatched",
            columns=(
                "source_file",
                "source_row",
                "season",
                "odds_date",
                "away_code",
                "home_code",
                "reason",
            ),
            records=[
                (path.name, o.source_row, season, o.odds_date, o.away_code, o.home_code, why)
                for o, why in joined.unmatched
            ],
        )
        await conn.execute(WORKBOOK_SNAPSHOTS, path.name)
        await _record(conn, path.name, {season: len(odds_games)}, sha)
    return True, warnings


async def summarize(conn: Conn, seasons: set[int], summary: IngestSummary) -> None:
    for season in sorted(seasons):
        summary.seasons[str(season)] = SeasonSummary(
            games=await conn.fetchval("SELECT count(*) FROM games WHERE season = $1", season)
        )
    for row in await conn.fetch(
        """SELECT season,
                  (SELECT row_count FROM ingested_files f
                    WHERE f.file_name = 'mlb-odds-' || season || '.xlsx' AND f.season = s.season)
                    AS odds_games,
                  (SELECT count(*) FROM odds o WHERE o.season = s.season) AS matched,
                  (SELECT count(*) FROM odds_unmatched u WHERE u.season = s.season) AS unmatched
           FROM unnest($1::smallint[]) AS s(season)""",
        sorted(seasons),
    ):
        entry = summary.seasons[str(row["season"])]
        entry.odds_games = row["odds_games"] or 0
        entry.odds_matched, entry.odds_unmatched = row["matched"], row["unmatched"]
    summary.unmatched = [
        dict(r) | {"odds_date": r["odds_date"].isoformat()}
        for r in await conn.fetch(
            "SELECT * FROM odds_unmatched WHERE season = ANY($1) ORDER BY source_file, source_row",
            sorted(seasons),
        )
    ]


async def ingest(
    conn: Conn, data_dir: Path, seasons: set[int], progress: Progress | None = None
) -> IngestSummary:
    """Migrate, then load game logs and workbooks of ``seasons``; report per season."""
    started = time.perf_counter()
    await migrate(conn)
    logs, books = locate_files(data_dir, seasons)
    summary = IngestSummary()
    for path in logs:
        loaded = await load_game_log(conn, path, seasons)
        (summary.files_loaded if loaded else summary.files_unchanged).append(path.name)
        if progress:
            progress(path.name, 1)
    for path in books:
        loaded, warnings = await load_workbook(conn, path)
        (summary.files_loaded if loaded else summary.files_unchanged).append(path.name)
        summary.warnings += warnings
        if progress:
            progress(path.name, 1)
    await summarize(conn, seasons, summary)
    summary.elapsed_s = time.perf_counter() - started
    return summary
