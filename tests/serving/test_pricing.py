"""Re-pricing a frozen prediction and settling a recommendation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firstpitch.serving import betting, pricing

POLICY = betting.BettingPolicy()
SEEN = datetime(2021, 7, 4, 16, 20, tzinfo=UTC)


def snap(**prices: float) -> dict[str, object]:
    return {"source": "book", "observed_at": SEEN, "home_price": None, "away_price": None,
            "over_price": None, "under_price": None, "line": None} | prices  # fmt: skip


def test_a_moved_price_changes_the_recommendation_not_the_probability() -> None:
    at_open = pricing.reprice(
        0.60, 0.5, 8.5, {"moneyline": snap(home_price=-120, away_price=100)}, POLICY
    )
    moved = pricing.reprice(
        0.60, 0.5, 8.5, {"moneyline": snap(home_price=-170, away_price=150)}, POLICY
    )
    assert at_open["moneyline"]["recommended"] and not moved["moneyline"]["recommended"]
    assert (
        at_open["moneyline"]["side"] == "home" and at_open["moneyline"]["model_probability"] == 0.6
    )
    after = moved["moneyline"]
    assert after["model_probability"] == pytest.approx(0.6 if after["side"] == "home" else 0.4)
    ev = 0.60 * (1 + 100 / 120 - 1) - 0.40
    assert at_open["moneyline"]["expected_value"] == pytest.approx(ev)
    assert at_open["moneyline"]["priced_at"]["observed_at"] == SEEN.isoformat()


def test_a_total_is_only_repriced_at_the_line_the_model_predicted() -> None:
    same = pricing.reprice(
        0.5, 0.62, 8.5, {"total": snap(line=8.5, over_price=-105, under_price=-115)}, POLICY
    )
    moved = pricing.reprice(
        0.5, 0.62, 8.5, {"total": snap(line=9.0, over_price=-105, under_price=-115)}, POLICY
    )
    assert same["total"]["odds"] == -105 and same["total"]["recommended"]
    assert not moved["total"]["recommended"] and "line moved to 9" in moved["total"]["reason"]
    assert pricing.reprice(0.5, 0.5, None, {}, POLICY)["moneyline"]["reason"] == "no current price"


def test_settlement() -> None:
    home = {"market": "moneyline", "side": "home", "recommended": True, "decimal_odds": 2.5,
            "recommended_bet_size": 0.04}  # fmt: skip
    assert pricing.settle(home, 5, 3) == {"settled": "won", "profit_per_unit": 1.5,
                                           "profit": pytest.approx(0.06)}  # fmt: skip
    assert pricing.settle(home, 3, 5)["profit"] == pytest.approx(-0.04)
    over = {"market": "total", "side": "over", "line": 8.0, "recommended": True,
            "decimal_odds": 1.9, "recommended_bet_size": 0.02}  # fmt: skip
    assert pricing.settle(over, 5, 3)["settled"] == "push"
    assert pricing.settle(over, 6, 3)["profit"] == pytest.approx(0.018)
    assert pricing.settle(home | {"recommended": False}, 5, 3) == pricing.NO_BET
    assert pricing.outcome(5, 3, 8.0) == {"home_win": True, "total_runs": 8, "total_line": 8.0,
                                         "total_over": None}  # fmt: skip
