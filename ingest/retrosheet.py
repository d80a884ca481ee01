"""Parse Retrosheet game logs (161 quoted, comma-separated fields per game).

Field positions follow Retrosheet's "Guide to Retrosheet Game Logs" (1-based in the comments,
0-based in the code). Pre-game facts go to ``games``; post-game facts to ``game_results``,
stamped ``known_at`` = assumed first pitch + the game's duration.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.errors import IngestError
from ingest.reference import PARK_TIMEZONES, scheduled_start

N_FIELDS = 161
GAME_TYPES = {"glwc": "wildcard", "gldv": "division", "gllc": "lcs", "glws": "world_series"}
BATTING = (
    "ab",
    "h",
    "2b",
    "3b",
    "hr",
    "rbi",
    "sh",
    "sf",
    "hbp",
    "bb",
    "ibb",
    "k",
    "sb",
    "cs",
    "gdp",
    "ci",
    "lob",
)
# 0-based start of each side's batting block (fields 22-38 / 50-66), pitching (39-43 / 67-71)
# and fielding (44-49 / 72-77).
BAT_START = {"away": 21, "home": 49}
PITCH_START = {"away": 38, "home": 66}
FIELD_START = {"away": 43, "home": 71}
DEFAULT_DURATION = timedelta(hours=3)

GAME_COLUMNS = (
    "game_id",
    "game_date",
    "season",
    "game_num",
    "game_type",
    "day_of_week",
    "away_team",
    "away_league",
    "home_team",
    "home_league",
    "away_team_game",
    "home_team_game",
    "day_night",
    "park_id",
    "park_tz",
    "scheduled_start",
    "away_sp_id",
    "away_sp_name",
    "home_sp_id",
    "home_sp_name",
    "away_lineup",
    "home_lineup",
    "source_file",
    "source_line",
)
RESULT_COLUMNS = (
    "game_id",
    "known_at",
    "away_score",
    "home_score",
    "length_outs",
    "completion",
    "attendance",
    "duration_min",
    "away_line",
    "home_line",
    *(f"away_{s}" for s in BATTING),
    "away_pitchers",
    "away_er",
    "away_e",
    *(f"home_{s}" for s in BATTING),
    "home_pitchers",
    "home_er",
    "home_e",
)


@dataclass
class ParsedGame:
    game: dict[str, object]
    result: dict[str, object]


def game_type_for(path: Path) -> str:
    stem = path.stem.lower()
    if stem in GAME_TYPES:
        return GAME_TYPES[stem]
    if stem.startswith("gl") and stem[2:].isdigit():
        return "regular"
    raise IngestError(path, None, "not a Retrosheet game log name (glYYYY, glwc, gldv, gllc, glws)")


def _int(value: str, field: int, *, required: bool = False) -> int | None:
    if value == "":
        if required:
            raise ValueError(f"field {field} is empty but required")
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"field {field} is not a number: {value[:20]!r}") from None


def _date(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        raise ValueError(f"field 1 is not a yyyymmdd date: {value[:20]!r}") from None


def _completed_at(info: str, tz: str) -> datetime | None:
    """A suspended game's result is only known on the day it was completed (field 14)."""
    if not info:
        return None
    try:
        day = datetime.strptime(info.split(",")[0], "%Y%m%d").date()  # noqa: DTZ007
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59), ZoneInfo(tz)).astimezone(UTC)


def _parse_row(row: list[str], game_type: str) -> ParsedGame:
    if len(row) != N_FIELDS:
        raise ValueError(f"expected {N_FIELDS} fields, found {len(row)}")
    game_date = _date(row[0])
    game_num_raw = row[1].strip()
    if game_num_raw not in {"0", "1", "2", "3", "A", "B"}:
        raise ValueError(f"field 2 (game number) is {game_num_raw[:10]!r}")
    game_num = {"A": 1, "B": 2}.get(game_num_raw) or int(game_num_raw)
    away, home = row[3].strip(), row[6].strip()
    if not (away and home):
        raise ValueError("fields 4/7 (teams) are empty")
    day_night = row[12].strip()
    if day_night not in {"D", "N"}:
        raise ValueError(f"field 13 (day/night) is {day_night[:10]!r}, expected D or N")
    park = row[16].strip()
    if park not in PARK_TIMEZONES:
        raise ValueError(f"field 17 (park) {park[:10]!r} has no known time zone")
    game_id = f"{home}{game_date:%Y%m%d}{game_num_raw}"
    game: dict[str, object] = {
        "game_id": game_id,
        "game_date": game_date,
        "season": game_date.year,
        "game_num": game_num,
        "game_type": game_type,
        "day_of_week": row[2],
        "away_team": away,
        "away_league": row[4] or None,
        "home_team": home,
        "home_league": row[7] or None,
        "away_team_game": _int(row[5], 6),
        "home_team_game": _int(row[8], 9),
        "day_night": day_night,
        "park_id": park,
        "park_tz": PARK_TIMEZONES[park],
        "away_sp_id": row[101] or None,
        "away_sp_name": row[102] or None,
        "home_sp_id": row[103] or None,
        "home_sp_name": row[104] or None,
        "away_lineup": [row[105 + 3 * i] for i in range(9)],
        "home_lineup": [row[132 + 3 * i] for i in range(9)],
    }
    result: dict[str, object] = {
        "game_id": game_id,
        "away_score": _int(row[9], 10, required=True),
        "home_score": _int(row[10], 11, required=True),
        "length_outs": _int(row[11], 12),
        "completion": row[13] or None,
        "attendance": _int(row[17], 18),
        "duration_min": _int(row[18], 19),
        "away_line": row[19] or None,
        "home_line": row[20] or None,
    }
    for side in ("away", "home"):
        for i, stat in enumerate(BATTING):
            result[f"{side}_{stat}"] = _int(row[BAT_START[side] + i], BAT_START[side] + i + 1)
        result[f"{side}_pitchers"] = _int(row[PITCH_START[side]], PITCH_START[side] + 1)
        result[f"{side}_er"] = _int(row[PITCH_START[side] + 2], PITCH_START[side] + 3)
        result[f"{side}_e"] = _int(row[FIELD_START[side] + 2], FIELD_START[side] + 3)
    return ParsedGame(game, result)


def parse_game_log(path: Path, seasons: set[int]) -> list[ParsedGame]:
    """Parse every game of ``seasons`` in one log file; any bad line raises IngestError."""
    game_type = game_type_for(path)
    parsed: list[ParsedGame] = []
    try:
        with path.open(newline="", encoding="latin-1") as handle:
            for line_no, row in enumerate(csv.reader(handle, strict=True), start=1):
                if not row or (row[0][:4].isdigit() and int(row[0][:4]) not in seasons):
                    continue
                try:
                    game = _parse_row(row, game_type)
                except ValueError as exc:
                    raise IngestError(path, line_no, str(exc)) from None
                game.game["source_file"] = path.name
                game.game["source_line"] = line_no
                parsed.append(game)
    except csv.Error as exc:
        raise IngestError(path, None, f"malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise IngestError(path, None, f"not a text file: {exc}") from None
    _assign_start_times(parsed, path)
    return parsed


def _assign_start_times(parsed: list[ParsedGame], path: Path) -> None:
    """Scheduled first pitch (assumed) and, from it, when each result became known."""
    order: dict[tuple[object, object, object], int] = defaultdict(int)
    seen: set[object] = set()
    for item in sorted(
        parsed, key=lambda p: (p.game["game_date"], p.game["park_id"], p.game["game_num"])
    ):
        g = item.game
        if g["game_id"] in seen:
            raise IngestError(path, int(str(g["source_line"])), f"duplicate game {g['game_id']}")
        seen.add(g["game_id"])
        key = (g["game_date"], g["park_id"], g["day_night"])
        start = scheduled_start(g["game_date"], str(g["day_night"]), str(g["park_id"]), order[key])  # type: ignore[arg-type]
        order[key] += 1
        g["scheduled_start"] = start
        duration = item.result["duration_min"]
        known = start + (
            timedelta(minutes=duration)
            if isinstance(duration, int) and duration > 0
            else DEFAULT_DURATION
        )
        completed = _completed_at(str(item.result["completion"] or ""), str(g["park_tz"]))
        item.result["known_at"] = max(known, completed) if completed else known
