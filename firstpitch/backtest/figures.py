"""The figures a backtest report shows, computed from the run's stored outcome rows: the
calibration table, the running ROI and CLV of the recommended bets, and the monthly log loss
of the model next to the opening and the closing market on the same games."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from features.market import fair_first

EPS = 1e-6
MIN_MONTH_GAMES = 20
CALIBRATION_BINS = 20  # 0.05 wide: the probabilities of a game sit mostly within 0.3–0.7


def clip(p: float) -> float:
    return max(EPS, min(1 - EPS, p))


def log_loss(p: float, y: int) -> float:
    p = clip(p)
    return -math.log(p) if y == 1 else -math.log(1 - p)


def resolved(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["y"] is not None]


def calibration(rows: list[dict[str, Any]], bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Per probability bin with games in it: the count, mean predicted, observed rate."""
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in resolved(rows):
        grouped[min(bins - 1, int(clip(r["probability"]) * bins))].append(r)
    out = []
    for k in sorted(grouped):
        members = grouped[k]
        out.append(
            {
                "bin_low": k / bins,
                "bin_high": (k + 1) / bins,
                "count": len(members),
                "mean_predicted": sum(clip(r["probability"]) for r in members) / len(members),
                "observed": sum(r["y"] for r in members) / len(members),
            }
        )
    return out


def cumulative_bets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resolved recommended bets in first-pitch order, each with the running profit (flat
    unit stakes), ROI and mean CLV (over the bets so far whose side had a closing price)."""
    out, profit, clv_sum, clv_n = [], 0.0, 0.0, 0
    for n, r in enumerate((r for r in rows if r["bet_profit"] is not None), start=1):
        profit += r["bet_profit"]
        if r["clv"] is not None:
            clv_sum += r["clv"]
            clv_n += 1
        out.append(
            {
                "game_id": r["game_id"],
                "game_date": r["game_date"].isoformat(),
                "profit": r["bet_profit"],
                "cumulative_profit": profit,
                "cumulative_roi": profit / n,
                "cumulative_clv": clv_sum / clv_n if clv_n else None,
            }
        )
    return out


def bet_totals(series: list[dict[str, Any]]) -> dict[str, Any]:
    """The end of a running series: bets, profit in units, ROI and mean CLV."""
    last = series[-1] if series else None
    return {
        "count": len(series),
        "profit_units": last["cumulative_profit"] if last else 0.0,
        "roi": last["cumulative_roi"] if last else None,
        "closing_line_value": last["cumulative_clv"] if last else None,
    }


def market_probabilities(
    row: dict[str, Any], closing: dict[str, Any] | None, method: str
) -> tuple[float | None, float | None]:
    """The de-vigged opening and closing probability of the row's event (home win, or over
    its opening total); a closing total only where the closing snapshot quotes that line."""
    odds = row["odds"]
    if row["prediction_type"] == "moneyline":
        opening = fair_first(odds.get("open_ml_home"), odds.get("open_ml_away"), method)
        close = None if closing is None else fair_first(closing["first"], closing["second"], method)
        return opening, close
    opening = fair_first(odds.get("open_over_price"), odds.get("open_under_price"), method)
    if closing is None or closing["line"] is None or row["line"] is None:
        return opening, None
    if float(closing["line"]) != float(row["line"]):
        return opening, None
    return opening, fair_first(closing["first"], closing["second"], method)


def monthly(
    rows: list[dict[str, Any]], closing: dict[str, dict[str, Any]], method: str
) -> list[dict[str, Any]]:
    """Per calendar month of game dates: log loss of the model, the opening and the closing
    market, over the resolved games where both markets had a price (the same games). A
    month of fewer than MIN_MONTH_GAMES games is counted with the month before ("2021-10/11")."""
    months: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for r in resolved(rows):
        opening, close = market_probabilities(r, closing.get(r["game_id"]), method)
        if opening is None or close is None:
            continue
        y = r["y"]
        months[r["game_date"].strftime("%Y-%m")].append(
            (log_loss(r["probability"], y), log_loss(opening, y), log_loss(close, y))
        )
    # a month of a few games (the World Series' last days) joins the month before it
    merged: list[tuple[str, list[tuple[float, float, float]]]] = []
    for m, v in sorted(months.items()):
        if merged and len(v) < MIN_MONTH_GAMES:
            label, held = merged[-1]
            merged[-1] = (f"{label.split('/')[0]}/{m[5:]}", held + v)
        else:
            merged.append((m, v))
    return [
        {
            "month": m,
            "games": len(v),
            "model_log_loss": sum(t[0] for t in v) / len(v),
            "opening_log_loss": sum(t[1] for t in v) / len(v),
            "closing_log_loss": sum(t[2] for t in v) / len(v),
        }
        for m, v in merged
    ]
