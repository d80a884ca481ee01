"""A stretch of a real season as the live feed would have told it: every fact of the
historical files as a feed record, at the time it became known.

When things become known (the files carry no timestamps; the same rules as the ingest):
- the schedule: 09:00 local time at the park, the day before the game;
- the starting pitchers: 10:00 local the day before; the lineups: three hours before first
  pitch (the rule of ``ingest/known_times.py``, which gives the ingested history the same
  times, so a replayed game's features equal the offline frame's);
- the opening line (moneyline, total): 09:00 local on game day, as the ingest assumes;
  the closing line and the run line: at first pitch;
- the result: first pitch plus the game's duration (or its completion date), as the ingest
  stamps it.
A snapshot the workbook has no prices for is not sent (the feed refuses a moneyline
without both prices); a result's missing box counts are sent as 0, as the features read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.files import locate_files
from ingest.join import GameKey, join_odds
from ingest.odds import OddsGame, read_workbook, season_of
from ingest.retrosheet import ParsedGame, parse_game_log
from ingest.workbooks import OPENING_LINE_LOCAL

# "cutoff" is no feed record: at a game's cutoff the replay asks for its prediction, as a
# client freezing its view would; that prediction's features are the game's as of its cutoff.
# At one moment every fact comes before the predictions: what is known at a cutoff counts.
KIND_ORDER = {"schedule": 0, "status": 1, "starters": 2, "lineups": 3, "odds": 4, "results": 5,
              "cutoff": 6}  # fmt: skip
CUTOFF = "cutoff"
SCHEDULE_LOCAL = time(9, 0)
STARTERS_LOCAL = time(10, 0)  # the day before: ingest/known_times.py
LINEUP_LEAD = timedelta(hours=3)
SOURCE = "workbook"
STATS = ("h", "hr", "bb", "k", "e", "er")


@dataclass(frozen=True, order=True)
class Event:
    at: datetime
    rank: int
    game_id: str
    kind: str = field(compare=False)
    record: dict[str, Any] = field(compare=False, hash=False)


def _local(day: date, at: time, tz: str) -> datetime:
    return datetime.combine(day, at, ZoneInfo(tz)).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def game_events(p: ParsedGame, cutoff_minutes: int = 60) -> list[Event]:
    g, r = p.game, p.result
    gid, tz, day = str(g["game_id"]), str(g["park_tz"]), g["game_date"]
    start = g["scheduled_start"]
    assert isinstance(start, datetime) and isinstance(day, date)
    out = [
        Event(
            _local(day - timedelta(days=1), SCHEDULE_LOCAL, tz),
            KIND_ORDER["schedule"],
            gid,
            "schedule",
            {
                "game_id": gid,
                "home_team": g["home_team"],
                "away_team": g["away_team"],
                "park_id": g["park_id"],
                "scheduled_start": _iso(start),
                "game_type": g["game_type"],
                "game_num": g["game_num"],
                "home_league": g["home_league"],
                "away_league": g["away_league"],
            },
        )
    ]
    starters_at = _local(day - timedelta(days=1), STARTERS_LOCAL, tz)
    for side in ("home", "away"):
        if g[f"{side}_sp_id"]:
            out.append(Event(starters_at, KIND_ORDER["starters"], gid, "starters",
                             {"game_id": gid, "side": side, "pitcher_id": g[f"{side}_sp_id"],
                              "pitcher_name": g[f"{side}_sp_name"]}))  # fmt: skip
        lineup = list(g[f"{side}_lineup"] or [])  # type: ignore[call-overload]
        if len(lineup) == 9:
            out.append(Event(start - LINEUP_LEAD, KIND_ORDER["lineups"], gid, "lineups",
                             {"game_id": gid, "side": side, "players": lineup}))  # fmt: skip
    cutoff = start - timedelta(minutes=cutoff_minutes)
    out.append(Event(cutoff, KIND_ORDER[CUTOFF], gid, CUTOFF, {"game_id": gid}))
    known = r["known_at"]
    assert isinstance(known, datetime)
    out.append(
        Event(
            known,
            KIND_ORDER["results"],
            gid,
            "results",
            {
                "game_id": gid,
                "home_score": r["home_score"],
                "away_score": r["away_score"],
                "duration_min": r["duration_min"] or None,
                "length_outs": r["length_outs"],
                **{
                    f"{side}_{s}": r[f"{side}_{s}"] or 0 for side in ("home", "away") for s in STATS
                },
            },
        )
    )
    return out


def odds_events(game_id: str, o: OddsGame, start: datetime, tz: str) -> list[Event]:
    opened = min(_local(o.odds_date, OPENING_LINE_LOCAL, tz), start)
    rank = KIND_ORDER["odds"]
    quotes: list[tuple[datetime, str, dict[str, Any]]] = [
        (opened, "moneyline", {"home_price": o.open_ml_home, "away_price": o.open_ml_away}),
        (opened, "total", {"line": o.open_total, "over_price": o.open_over_price,
                           "under_price": o.open_under_price}),
        (start, "moneyline", {"home_price": o.close_ml_home, "away_price": o.close_ml_away}),
        (start, "total", {"line": o.close_total, "over_price": o.close_over_price,
                          "under_price": o.close_under_price}),
        (start, "run_line", {"line": o.run_line_home, "home_price": o.run_line_home_price,
                             "away_price": o.run_line_away_price}),
    ]  # fmt: skip
    return [
        Event(
            at,
            rank,
            game_id,
            "odds",
            {
                "game_id": game_id,
                "market": market,
                "source": SOURCE,
                "observed_at": _iso(at),
                **prices,
            },
        )
        for at, market, prices in quotes
        if all(v is not None for v in prices.values())
    ]


def _known_at(event: Event) -> dict[str, Any]:
    """The record as sent: with the time it became known (odds carry ``observed_at``)."""
    if event.kind in ("odds", CUTOFF):
        return event.record
    return event.record | {"known_at": _iso(event.at)}


def build(data_dir: Path, first: date, last: date, cutoff_minutes: int = 60) -> list[Event]:
    """Every event of the games played from ``first`` to ``last`` (inclusive), in the
    order they became known."""
    seasons = set(range(first.year, last.year + 1))
    logs, books = locate_files(data_dir, seasons)
    season_games = [p for path in logs for p in parse_game_log(path, seasons)]
    games = [p for p in season_games if first <= p.game["game_date"] <= last]  # type: ignore[operator]
    events = [e for p in games for e in game_events(p, cutoff_minutes)]
    by_id = {str(p.game["game_id"]): p for p in games}
    for path in books:
        season = season_of(path)
        keys = [_key(p) for p in season_games if p.game["season"] == season]
        for game_id, odds, _swapped in join_odds(read_workbook(path), keys).matched:
            if game_id in by_id:
                g = by_id[game_id].game
                start = g["scheduled_start"]
                assert isinstance(start, datetime)
                events.extend(odds_events(game_id, odds, start, str(g["park_tz"])))
    events.sort()
    return [Event(e.at, e.rank, e.game_id, e.kind, _known_at(e)) for e in events]


def _key(p: ParsedGame) -> GameKey:
    g, r = p.game, p.result
    return GameKey(str(g["game_id"]), g["game_date"], int(str(g["game_num"])),  # type: ignore[arg-type]
                   str(g["away_team"]), str(g["home_team"]), int(str(r["away_score"])),
                   int(str(r["home_score"])))  # fmt: skip


def steps(events: Iterable[Event]) -> list[tuple[datetime, str, list[dict[str, Any]]]]:
    """Events grouped into feed posts: one per (moment, kind), in order."""
    out: list[tuple[datetime, str, list[dict[str, Any]]]] = []
    for e in events:
        if out and out[-1][0] == e.at and out[-1][1] == e.kind:
            out[-1][2].append(e.record)
        else:
            out.append((e.at, e.kind, [e.record]))
    return out
