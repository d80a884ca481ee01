"""Odds-to-game join rules on constructed cases."""

from __future__ import annotations

from datetime import date

from ingest.join import GameKey, join_odds
from ingest.odds import OddsGame


def odds(day: date, away: str, home: str, finals: tuple[int, int], ml: tuple[int, int]) -> OddsGame:
    return OddsGame(
        season=day.year,
        source_row=2,
        odds_date=day,
        home_row_date=day,
        away_code=away,
        home_code=home,
        neutral=False,
        away_pitcher=None,
        home_pitcher=None,
        away_final=finals[0],
        home_final=finals[1],
        open_ml_away=ml[0],
        open_ml_home=ml[1],
        close_ml_away=ml[0],
        close_ml_home=ml[1],
        run_line_away=None,
        run_line_away_price=None,
        run_line_home=None,
        run_line_home_price=None,
        open_total=8.5,
        open_over_price=-110,
        open_under_price=-110,
        close_total=8.5,
        close_over_price=-105,
        close_under_price=-115,
    )


D = date(2021, 7, 4)


def test_doubleheader_pairs_by_score_not_by_listing_order() -> None:
    games = [
        GameKey("NYA202107041", D, 1, "BOS", "NYA", 2, 5),
        GameKey("NYA202107042", D, 2, "BOS", "NYA", 7, 1),
    ]
    listed = [
        odds(D, "BOS", "NYA", (7, 1), (120, -130)),
        odds(D, "BOS", "NYA", (2, 5), (110, -120)),
    ]
    result = join_odds(listed, games)
    assert [gid for gid, _, _ in result.matched] == ["NYA202107042", "NYA202107041"]
    assert result.unmatched == []


def test_swapped_home_and_away_exchange_sides() -> None:
    games = [GameKey("TOR202107040", D, 0, "BOS", "TOR", 3, 4)]
    result = join_odds([odds(D, "TOR", "BOS", (4, 3), (-150, 140))], games)
    ((gid, joined, swapped),) = result.matched
    assert gid == "TOR202107040" and swapped
    assert (joined.open_ml_away, joined.open_ml_home) == (140, -150)
    assert (joined.away_code, joined.home_code) == ("BOS", "TOR")
    assert joined.open_over_price == -110  # totals are not a side: unchanged


def test_unmatched_is_reported_with_a_reason() -> None:
    games = [GameKey("NYA202107040", D, 0, "BOS", "NYA", 2, 5)]
    listed = [
        odds(D, "BOS", "NYA", (2, 5), (110, -120)),
        odds(D, "BOS", "NYA", (2, 5), (110, -120)),
        odds(D, "SEA", "OAK", (1, 0), (100, -110)),
    ]
    result = join_odds(listed, games)
    assert len(result.matched) == 1
    reasons = [why for _, why in result.unmatched]
    assert reasons == [
        "every Retrosheet game of this pairing is already matched",
        "no Retrosheet game with these teams within a day of this date",
    ]
