"""Pure pricing of live events: a frozen prediction's recommendations at the current price,
and the settlement of a recommendation once the result is known.

- Re-pricing keeps the model's probabilities (frozen at the cutoff) and evaluates them at
  each market's latest snapshot (``betting.recommend``: expected value, fractional Kelly).
  A total is re-priced only at the line the model predicted; if the line has moved, the
  model has no probability for the new one and the total is not recommended.
- Settlement: a recommended bet won pays ``decimal_odds - 1`` per unit, lost costs 1, a
  total landing on its line is a push (0). ``profit`` is per unit of bankroll: the per-unit
  result times ``recommended_bet_size``.
"""

from __future__ import annotations

from typing import Any

from firstpitch.serving import betting

NO_BET = {"settled": "no_bet", "profit_per_unit": 0.0, "profit": 0.0}


def reprice(
    p_home: float,
    p_over: float,
    predicted_total: float | None,
    prices: dict[str, dict[str, Any]],
    policy: betting.BettingPolicy,
) -> dict[str, dict[str, Any]]:
    ml = prices.get("moneyline")
    moneyline = betting.recommend(
        "moneyline", ("home", "away"), p_home,
        (ml["home_price"], ml["away_price"]) if ml else (None, None), policy,
    )  # fmt: skip
    if ml is None:
        moneyline["reason"] = "no current price"
    tot = prices.get("total")
    same_line = tot is not None and predicted_total is not None and tot["line"] == predicted_total
    total = betting.recommend(
        "total", ("over", "under"), p_over,
        (tot["over_price"], tot["under_price"]) if tot and same_line else (None, None),
        policy, line=tot["line"] if tot else predicted_total,
    )  # fmt: skip
    if tot is None:
        total["reason"] = "no current price"
    elif not same_line:
        total["reason"] = (
            f"the line moved to {tot['line']:g}; the model's probability is for "
            f"{'no line' if predicted_total is None else format(predicted_total, 'g')}"
        )
    for market, snap in (("moneyline", ml), ("total", tot)):
        rec = moneyline if market == "moneyline" else total
        rec["priced_at"] = (
            None if snap is None else {"source": snap["source"],
                                       "observed_at": snap["observed_at"].isoformat()}
        )  # fmt: skip
    return {"moneyline": moneyline, "total": total}


def best_edge(recommendations: dict[str, dict[str, Any]]) -> float | None:
    edges = [r["edge"] for r in recommendations.values() if r.get("edge") is not None]
    return max(edges) if edges else None


def settle(bet: dict[str, Any], home_score: int, away_score: int) -> dict[str, Any]:
    """The outcome of one recommendation."""
    if not bet.get("recommended"):
        return dict(NO_BET)
    side = bet["side"]
    if bet["market"] == "moneyline":
        won: bool | None = (home_score > away_score) == (side == "home")
    else:
        total = home_score + away_score
        won = None if total == bet["line"] else (total > bet["line"]) == (side == "over")
    per_unit = 0.0 if won is None else float(bet["decimal_odds"]) - 1 if won else -1.0
    return {
        "settled": "push" if won is None else "won" if won else "lost",
        "profit_per_unit": per_unit,
        "profit": per_unit * float(bet["recommended_bet_size"]),
    }


def outcome(home_score: int, away_score: int, line: float | None) -> dict[str, Any]:
    total = home_score + away_score
    return {
        "home_win": home_score > away_score,
        "total_runs": total,
        "total_line": line,
        "total_over": None if line is None or total == line else total > line,
    }
