"""Join workbook games to Retrosheet games.

Rules, in order, for each workbook game:
1. Same date (either row's date), same home and away team.
2. Same date, teams the other way round (relocated games list home and away swapped from
   Retrosheet, which is authoritative): matched with ``swapped`` set and sides exchanged.
3. The day before or after (a few workbook dates are off by one), either orientation.
Doubleheaders: among the candidate games not yet taken, the one whose final score equals
the workbook's wins; otherwise the earliest by game number, so workbook order pairs with
Retrosheet order. A game is matched at most once; the rest is reported as unmatched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta

from ingest.odds import OddsGame


@dataclass(frozen=True)
class GameKey:
    game_id: str
    game_date: date
    game_num: int
    away_team: str
    home_team: str
    away_score: int
    home_score: int


@dataclass
class JoinResult:
    matched: list[tuple[str, OddsGame, bool]]  # game_id, odds as Retrosheet orientation, swapped
    unmatched: list[tuple[OddsGame, str]]  # odds as listed, reason


def swap_sides(odds: OddsGame) -> OddsGame:
    """The same game with home and away exchanged (totals' over/under stay as they are)."""
    return replace(
        odds,
        away_code=odds.home_code,
        home_code=odds.away_code,
        away_pitcher=odds.home_pitcher,
        home_pitcher=odds.away_pitcher,
        away_final=odds.home_final,
        home_final=odds.away_final,
        open_ml_away=odds.open_ml_home,
        open_ml_home=odds.open_ml_away,
        close_ml_away=odds.close_ml_home,
        close_ml_home=odds.close_ml_away,
        run_line_away=odds.run_line_home,
        run_line_away_price=odds.run_line_home_price,
        run_line_home=odds.run_line_away,
        run_line_home_price=odds.run_line_away_price,
    )


def join_odds(odds_games: list[OddsGame], games: list[GameKey]) -> JoinResult:
    index: dict[tuple[date, str, str], list[GameKey]] = defaultdict(list)
    for game in sorted(games, key=lambda g: (g.game_date, g.game_num)):
        index[(game.game_date, game.home_team, game.away_team)].append(game)
    taken: set[str] = set()
    result = JoinResult([], [])

    def pick(candidates: list[GameKey], odds: OddsGame) -> GameKey | None:
        free = [g for g in candidates if g.game_id not in taken]
        for g in free:
            if (g.away_score, g.home_score) == (odds.away_final, odds.home_final):
                return g
        return free[0] if free else None

    for odds in odds_games:
        days = [odds.odds_date] + (
            [odds.home_row_date] if odds.home_row_date != odds.odds_date else []
        )
        days += [d + timedelta(days=k) for d in days[:1] for k in (-1, 1)]
        found: tuple[GameKey, bool] | None = None
        for day in days:
            for swapped in (False, True):
                view = swap_sides(odds) if swapped else odds
                candidate = pick(index.get((day, view.home_code, view.away_code), []), view)
                if candidate is not None:
                    found = (candidate, swapped)
                    break
            if found:
                break
        if found is None:
            reason = "no Retrosheet game with these teams within a day of this date"
            if any(
                index.get((d, h, a))
                for d in days
                for h, a in ((odds.home_code, odds.away_code), (odds.away_code, odds.home_code))
            ):
                reason = "every Retrosheet game of this pairing is already matched"
            result.unmatched.append((odds, reason))
            continue
        game, swapped = found
        taken.add(game.game_id)
        result.matched.append((game.game_id, swap_sides(odds) if swapped else odds, swapped))
    return result
