"""Parse the per-game odds workbooks (two rows per game: visitor then home).

Header spelling drifts between years (``Run Line``/``RunLine``, ``Open OU``/``OpenOU``) and
price columns have no header: each price is the column right after its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from ingest.errors import IngestError
from ingest.reference import retrosheet_team

NO_LINE = {"", "NL", "X", "-", "PK"}
WARNINGS: list[str] = []  # data-quality notes of the last read, reported by the ingest summary


@dataclass
class OddsGame:
    """One workbook game, teams already in Retrosheet codes, as listed (maybe swapped)."""

    season: int
    source_row: int  # spreadsheet row of the visitor line (header is row 1)
    odds_date: date
    home_row_date: date
    away_code: str
    home_code: str
    neutral: bool
    away_pitcher: str | None
    home_pitcher: str | None
    away_final: int | None
    home_final: int | None
    open_ml_away: int | None
    open_ml_home: int | None
    close_ml_away: int | None
    close_ml_home: int | None
    run_line_away: float | None
    run_line_away_price: int | None
    run_line_home: float | None
    run_line_home_price: int | None
    open_total: float | None
    open_over_price: int | None
    open_under_price: int | None
    close_total: float | None
    close_over_price: int | None
    close_under_price: int | None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _column_map(columns: list[str], path: Path) -> dict[str, str]:
    """Our names -> workbook columns, including the unnamed price column after each line."""
    by_norm = {_norm(c): i for i, c in enumerate(columns)}
    wanted = {
        "date": "date",
        "vh": "vh",
        "team": "team",
        "pitcher": "pitcher",
        "final": "final",
        "open": "open",
        "close": "close",
    }
    mapping: dict[str, str] = {}
    for ours, norm in wanted.items():
        if norm not in by_norm:
            raise IngestError(path, 1, f"missing column {ours!r} (found {columns})")
        mapping[ours] = columns[by_norm[norm]]
    for ours, norm in (("run_line", "runline"), ("open_ou", "openou"), ("close_ou", "closeou")):
        if norm in by_norm:
            i = by_norm[norm]
            mapping[ours] = columns[i]
            if i + 1 < len(columns):
                mapping[f"{ours}_price"] = columns[i + 1]
        elif ours != "run_line":  # run lines only exist from 2014 on
            raise IngestError(path, 1, f"missing column {ours!r} (found {columns})")
    return mapping


def _price(value: str | None, row: int, path: Path) -> int | None:
    text = (value or "").strip().upper()
    if text in NO_LINE:
        return None
    try:
        number = float(text)
    except ValueError:
        raise IngestError(path, row, f"odds value {text[:20]!r} is not American odds") from None
    if abs(number) < 100:
        # A handful of real cells hold impossible prices (e.g. -6): kept as "no line".
        WARNINGS.append(
            f"{path.name}, row {row}: price {text[:20]!r} is not American odds; treated as no line"
        )
        return None
    return int(number)


def _line(value: str | None, row: int, path: Path) -> float | None:
    text = (value or "").strip().upper().replace("½", ".5").replace(" ", "")
    if text in NO_LINE:
        return None
    if text.endswith("."):
        text = text[:-1]
    try:
        return float(text)
    except ValueError:
        raise IngestError(path, row, f"line value {text[:20]!r} is not a number") from None


def _final(value: str | None) -> int | None:
    text = (value or "").strip()
    try:
        return int(float(text))
    except ValueError:
        return None


def _date(value: str | None, season: int, row: int, path: Path) -> date:
    text = (value or "").strip()
    try:
        mmdd = int(float(text))
        return date(season, mmdd // 100, mmdd % 100)
    except ValueError:
        raise IngestError(path, row, f"Date {text[:20]!r} is not MMDD") from None


def season_of(path: Path) -> int:
    match = re.fullmatch(r"mlb-odds-(\d{4})", path.stem)
    if not match:
        raise IngestError(path, None, "odds workbooks must be named mlb-odds-YYYY.xlsx")
    return int(match.group(1))


def read_workbook(path: Path) -> list[OddsGame]:
    """Every game of one workbook; a malformed row raises IngestError naming it."""
    season = season_of(path)
    WARNINGS.clear()
    try:
        frame = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # the reader raises several types for a corrupt workbook
        raise IngestError(path, None, f"cannot read workbook: {exc}") from None
    cols = _column_map(frame.columns, path)
    rows = frame.rows(named=True)
    if len(rows) % 2:
        raise IngestError(path, len(rows) + 1, "odd number of team rows: a game lacks a line")
    games = []
    for i in range(0, len(rows), 2):
        v, h = rows[i], rows[i + 1]
        row = i + 2  # spreadsheet numbering: header is row 1
        flags = ((v[cols["vh"]] or "").strip().upper(), (h[cols["vh"]] or "").strip().upper())
        if flags not in {("V", "H"), ("N", "N")}:
            raise IngestError(path, row, f"expected a V row then an H row, found {flags}")
        day = _date(v[cols["date"]], season, row, path)
        # A few games carry different dates on their two rows; the matcher tries both.
        home_day = _date(h[cols["date"]], season, row + 1, path)

        def get(r: dict[str, str | None], key: str) -> str | None:
            return r.get(cols[key]) if key in cols else None

        games.append(
            OddsGame(
                season=season,
                source_row=row,
                odds_date=day,
                home_row_date=home_day,
                away_code=retrosheet_team(v[cols["team"]] or "", season),
                home_code=retrosheet_team(h[cols["team"]] or "", season),
                neutral=flags == ("N", "N"),
                away_pitcher=(v[cols["pitcher"]] or None),
                home_pitcher=(h[cols["pitcher"]] or None),
                away_final=_final(v[cols["final"]]),
                home_final=_final(h[cols["final"]]),
                open_ml_away=_price(v[cols["open"]], row, path),
                open_ml_home=_price(h[cols["open"]], row + 1, path),
                close_ml_away=_price(v[cols["close"]], row, path),
                close_ml_home=_price(h[cols["close"]], row + 1, path),
                run_line_away=_line(get(v, "run_line"), row, path),
                run_line_away_price=_price(get(v, "run_line_price"), row, path),
                run_line_home=_line(get(h, "run_line"), row + 1, path),
                run_line_home_price=_price(get(h, "run_line_price"), row + 1, path),
                open_total=_line(get(v, "open_ou"), row, path)
                or _line(get(h, "open_ou"), row + 1, path),
                open_over_price=_price(get(v, "open_ou_price"), row, path),
                open_under_price=_price(get(h, "open_ou_price"), row + 1, path),
                close_total=_line(get(v, "close_ou"), row, path)
                or _line(get(h, "close_ou"), row + 1, path),
                close_over_price=_price(get(v, "close_ou_price"), row, path),
                close_under_price=_price(get(h, "close_ou_price"), row + 1, path),
            )
        )
    return games
