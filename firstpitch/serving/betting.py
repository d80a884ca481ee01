"""Betting recommendations from a model probability and the line known at the cutoff.

- The market probability is the de-vigged price of the opening line (multiplicative by
  default; power and Shin available), never the closing line.
- Expected value per unit staked on a side: ``p * (d - 1) - (1 - p)`` with decimal odds d.
- Kelly fraction: ``(b p - (1 - p)) / b`` with ``b = d - 1``, floored at 0.
- ``recommended_bet_size`` = Kelly × ``kelly_multiplier`` (a quarter by default), capped at
  ``max_bet_fraction`` of the bankroll, and 0 unless the bet is recommended.
- A bet is recommended only if the edge (model − market probability) is at least
  ``min_edge`` and the model's confidence in that side at least ``min_confidence``.
- Confidence = the probability of the predicted outcome, ``max(p, 1 - p)``.
- Risk level: "low" when confidence >= 0.65, "medium" when >= ``min_confidence``, else "high".
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from features.market import decimal_odds, devig

if TYPE_CHECKING:
    from firstpitch.settings import Settings


@dataclass(frozen=True)
class BettingPolicy:
    devig_method: str = "multiplicative"
    kelly_multiplier: float = 0.25
    max_bet_fraction: float = 0.05
    min_edge: float = 0.02
    min_confidence: float = 0.55

    @classmethod
    def from_settings(cls, settings: Settings) -> BettingPolicy:
        return cls(
            devig_method=settings.devig_method,
            kelly_multiplier=settings.kelly_multiplier,
            max_bet_fraction=settings.max_bet_fraction,
            min_edge=settings.min_edge,
            min_confidence=settings.min_confidence,
        )

    def settings(self) -> dict[str, Any]:
        """The policy as logged with each prediction (and read back by a replay)."""
        return asdict(self)


def recommendations(
    p_home: float, p_over: float, odds: dict[str, Any], policy: BettingPolicy
) -> dict[str, dict[str, Any]]:
    """Both markets' recommendations from the probabilities and the lines known at the
    cutoff (the ``odds_used`` of a prediction): what is served and what a replay recomputes."""
    return {"moneyline": moneyline(p_home, odds, policy), "total": total(p_over, odds, policy)}


def moneyline(p_home: float, odds: dict[str, Any], policy: BettingPolicy) -> dict[str, Any]:
    """The moneyline's recommendation (``recommendations``' first market)."""
    return recommend(
        "moneyline", ("home", "away"), p_home, (odds["open_ml_home"], odds["open_ml_away"]), policy
    )


def total(p_over: float, odds: dict[str, Any], policy: BettingPolicy) -> dict[str, Any]:
    """The total's recommendation (``recommendations``' second market)."""
    return recommend(
        "total",
        ("over", "under"),
        p_over,
        (odds["open_over_price"], odds["open_under_price"]),
        policy,
        line=odds["open_total"],
    )


def confidence(p: float) -> float:
    return max(p, 1 - p)


def risk_level(conf: float, policy: BettingPolicy) -> str:
    if conf >= 0.65:
        return "low"
    return "medium" if conf >= policy.min_confidence else "high"


def kelly(p: float, american: int) -> float:
    b = decimal_odds(american) - 1
    return max(0.0, (b * p - (1 - p)) / b)


def expected_value(p: float, american: int) -> float:
    return p * (decimal_odds(american) - 1) - (1 - p)


@functools.lru_cache(maxsize=8192)
def _market(first: float, second: float, method: str) -> tuple[float, float, float, float]:
    """A two-way line's fair probabilities and decimal odds (a game's line is the same for
    every request until it moves, so each is worked out once)."""
    fair = devig([first, second], method)
    return fair[0], fair[1], decimal_odds(int(first)), decimal_odds(int(second))


# What a market without a known line recommends (after its head fields).
_NO_LINE: dict[str, Any] = {
    "side": None,
    "odds": None,
    "decimal_odds": None,
    "market_probability": None,
    "model_probability": None,
    "edge": None,
    "expected_value": None,
    "kelly_fraction": 0.0,
    "recommended_bet_size": 0.0,
    "recommended": False,
    "reason": "no line known at the cutoff",
}


def recommend(
    market: str,
    sides: tuple[str, str],
    p_first: float,
    prices: tuple[int | None, int | None],
    policy: BettingPolicy,
    line: float | None = None,
) -> dict[str, Any]:
    """Evaluate both sides of a two-way market; report the better one (the first on a tie
    of expected values)."""
    head = {
        "market": market,
        "devig_method": policy.devig_method,
        "confidence_required": policy.min_confidence,
        "minimum_edge": policy.min_edge,
        "line": line,
    }
    first, second = prices
    if first is None or second is None:
        head.update(_NO_LINE)
        return head
    fair_0, fair_1, d_0, d_1 = _market(first, second, policy.devig_method)
    p_0, p_1 = p_first, 1 - p_first
    ev_0 = p_0 * (d_0 - 1) - (1 - p_0)  # = expected_value(p, price), kelly(p, price) below
    ev_1 = p_1 * (d_1 - 1) - (1 - p_1)
    if ev_1 > ev_0:
        side, price, d, fair, p, ev = sides[1], int(second), d_1, fair_1, p_1, ev_1
    else:
        side, price, d, fair, p, ev = sides[0], int(first), d_0, fair_0, p_0, ev_0
    b = d - 1
    kelly_fraction = max(0.0, (b * p - (1 - p)) / b)
    edge = p - fair
    conf_ok = p >= policy.min_confidence
    edge_ok = edge >= policy.min_edge
    recommended = conf_ok and edge_ok and ev > 0
    size = min(policy.max_bet_fraction, kelly_fraction * policy.kelly_multiplier)
    reason = (
        "edge and confidence thresholds met"
        if recommended
        else "edge below threshold"
        if not edge_ok
        else "confidence below threshold"
        if not conf_ok
        else "no positive expected value"
    )
    return {
        **head,
        "side": side,
        "odds": price,
        "decimal_odds": round(d, 6),
        "market_probability": fair,
        "model_probability": p,
        "edge": edge,
        "expected_value": ev,
        "kelly_fraction": kelly_fraction,
        "recommended_bet_size": size if recommended else 0.0,
        "recommended": recommended,
        "reason": reason,
    }
