"""Betting arithmetic on hand-checked numbers."""

from __future__ import annotations

import random
from typing import Any

import pytest

from features.market import METHODS, decimal_odds, devig
from firstpitch.serving.betting import (
    BettingPolicy,
    confidence,
    expected_value,
    kelly,
    recommend,
    risk_level,
)

POLICY = BettingPolicy(kelly_multiplier=0.25, max_bet_fraction=0.05, min_edge=0.02,
                       min_confidence=0.55)  # fmt: skip


def test_expected_value_and_kelly() -> None:
    # +150: decimal 2.5, b = 1.5. p = 0.5: EV = 0.5 * 1.5 - 0.5 = 0.25; Kelly = (0.75 - 0.5)/1.5
    assert expected_value(0.5, 150) == pytest.approx(0.25)
    assert kelly(0.5, 150) == pytest.approx(1 / 6)
    assert kelly(0.3, 150) == 0.0  # a losing bet: no stake
    assert expected_value(0.6, -150) == pytest.approx(0.6 * (2 / 3) - 0.4)


def test_recommendation_when_edge_and_confidence_are_met() -> None:
    rec = recommend("moneyline", ("home", "away"), 0.62, (-110, -110), POLICY)
    assert rec["side"] == "home" and rec["recommended"] is True
    assert rec["market_probability"] == pytest.approx(0.5)
    assert rec["edge"] == pytest.approx(0.12)
    full = kelly(0.62, -110)
    assert rec["kelly_fraction"] == pytest.approx(full)
    assert rec["recommended_bet_size"] == pytest.approx(min(0.05, full * 0.25))


def test_the_cap_binds_on_a_big_edge() -> None:
    rec = recommend("moneyline", ("home", "away"), 0.9, (120, -140), POLICY)
    assert rec["recommended"] and rec["recommended_bet_size"] == 0.05


def test_no_recommendation_below_thresholds() -> None:
    small_edge = recommend("moneyline", ("home", "away"), 0.535, (-110, -110), POLICY)
    assert not small_edge["recommended"] and small_edge["recommended_bet_size"] == 0.0
    assert small_edge["reason"] == "confidence below threshold"
    no_line = recommend("total", ("over", "under"), 0.7, (None, -110), POLICY, line=8.5)
    assert not no_line["recommended"] and no_line["reason"] == "no line known at the cutoff"


def test_the_better_side_is_chosen() -> None:
    rec = recommend("total", ("over", "under"), 0.35, (-110, -110), POLICY, line=9.0)
    assert rec["side"] == "under" and rec["model_probability"] == pytest.approx(0.65)


def test_confidence_and_risk() -> None:
    assert confidence(0.3) == pytest.approx(0.7)
    assert risk_level(0.7, POLICY) == "low"
    assert risk_level(0.6, POLICY) == "medium"
    assert risk_level(0.52, POLICY) == "high"


@pytest.mark.parametrize("method", ["multiplicative", "power", "shin"])
def test_every_devig_method_is_available(method: str) -> None:
    rec = recommend("moneyline", ("home", "away"), 0.6, (-130, 110),
                    BettingPolicy(devig_method=method))  # fmt: skip
    assert rec["devig_method"] == method
    assert 0.5 < rec["market_probability"] < 0.57


def _plainly(p_first: float, prices: tuple[int, int], policy: BettingPolicy) -> dict[str, Any]:
    """The recommendation as the module's docstring states it, side by side, with nothing
    worked out once: what ``recommend`` must equal to the bit, keys in the same order."""
    fair = devig(list(prices), policy.devig_method)
    sides: list[dict[str, Any]] = []
    for i, (name, p) in enumerate((("home", p_first), ("away", 1 - p_first))):
        price = prices[i]
        sides.append({"side": name, "odds": price, "decimal_odds": round(decimal_odds(price), 6),
                      "market_probability": fair[i], "model_probability": p,
                      "edge": p - fair[i], "expected_value": expected_value(p, price),
                      "kelly_fraction": kelly(p, price)})  # fmt: skip
    best = max(sides, key=lambda s: s["expected_value"])  # the first on a tie
    conf_ok = best["model_probability"] >= policy.min_confidence
    edge_ok = best["edge"] >= policy.min_edge
    ok = conf_ok and edge_ok and best["expected_value"] > 0
    reason = ("edge and confidence thresholds met" if ok else "edge below threshold"
              if not edge_ok else "confidence below threshold" if not conf_ok
              else "no positive expected value")  # fmt: skip
    size = min(policy.max_bet_fraction, best["kelly_fraction"] * policy.kelly_multiplier)
    return {"market": "moneyline", "devig_method": policy.devig_method,
            "confidence_required": policy.min_confidence, "minimum_edge": policy.min_edge,
            "line": None, **best, "recommended_bet_size": size if ok else 0.0,
            "recommended": ok, "reason": reason}  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_recommend_equals_the_plain_arithmetic_to_the_bit(method: str) -> None:
    rng = random.Random(11)
    policy = BettingPolicy(devig_method=method)
    prices = [p for p in range(-400, 401, 5) if abs(p) >= 100]
    for _ in range(3000):
        line = (rng.choice(prices), rng.choice(prices))
        p = rng.choice([rng.random(), 0.5, round(rng.random(), 2)])
        got = recommend("moneyline", ("home", "away"), p, line, policy)
        want = _plainly(p, line, policy)
        assert list(got.items()) == list(want.items()), (p, line)
    # a tie of expected values takes the first side, as max() does
    tied = recommend("moneyline", ("home", "away"), 0.5, (-110, -110), policy)
    assert tied["side"] == "home"
