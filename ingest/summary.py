"""What an ingest reports: per season, the games loaded and how many odds lines matched a game,
the files loaded or found unchanged, warnings and the unmatched lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from storage.postgres import Conn


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


async def summarize(conn: Conn, seasons: set[int], summary: IngestSummary) -> None:
    """Fill ``summary`` from the database: per season, and every unmatched line."""
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
