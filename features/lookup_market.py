"""The market half of ``features/lookup.py``: ``lines_at`` (``features/lines.py``) for one
target, on its own snapshots.

Per market, the snapshots observed by the horizon in (observed_at, source) order (unique per
game and market); the first is the opening line, the last the current one, and every price
is the one that snapshot holds, null or not, as Polars' ``first``/``last`` take them.
"""

from __future__ import annotations

from typing import Any

from features.facts import Snapshot, Target
from features.market import fair_first

# A snapshot's fields: market, source, observed_at, home, away, over, under, line.
MONEYLINE = {"ml_home": 3, "ml_away": 4}
TOTAL = {"total": 7, "over_price": 5, "under_price": 6}


def _ends(seen: list[Snapshot], market: str, cols: dict[str, int]) -> dict[str, Any]:
    picked = sorted((s for s in seen if s[0] == market), key=lambda s: (s[2], s[1]))
    first, last = (picked[0], picked[-1]) if picked else (None, None)
    out: dict[str, Any] = {}
    for name, at in cols.items():
        out[f"open_{name}"] = first[at] if first else None
        out[name] = last[at] if last else None
    out[f"{'ml' if market == 'moneyline' else market}_seen_at"] = last[2] if last else None
    return out


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def market(t: Target) -> dict[str, Any]:
    """Opening and current prices, when each market's current line was seen (epoch
    microseconds), the market features and ``lines_known_at``."""
    seen = [s for s in t.snapshots if s[2] <= t.horizon]
    v = _ends(seen, "moneyline", MONEYLINE) | _ends(seen, "total", TOTAL)
    v["mkt_home_prob_open"] = fair_first(v["open_ml_home"], v["open_ml_away"])
    v["mkt_over_prob_open"] = fair_first(v["open_over_price"], v["open_under_price"])
    v["mkt_total_open"] = v["open_total"]
    v["mkt_home_prob"] = fair_first(v["ml_home"], v["ml_away"])
    v["mkt_over_prob"] = fair_first(v["over_price"], v["under_price"])
    v["mkt_total"] = v["total"]
    v["mkt_home_prob_move"] = _minus(v["mkt_home_prob"], v["mkt_home_prob_open"])
    v["mkt_total_move"] = _minus(v["mkt_total"], v["mkt_total_open"])
    known = [k for k in (v["ml_seen_at"], v["total_seen_at"]) if k is not None]
    v["lines_known_at"] = max(known) if known else None
    return v
