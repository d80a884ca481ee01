"""The player-rating half of ``features/lookup.py``: ``lineup_features``
(``features/lineups.py``, ``features/rating_lookups.py``) for one target.

Each rating is the last row of its player, team or park known by the horizon, carried into
the target's season (``_carried``: the prior when there is none); a lineup's strength is
their sum in batting order over nine slots, divided by how many were rated, as
``lineup_strength`` adds them up.
"""

from __future__ import annotations

from typing import Any

from features.arrays import Indexed, TimelineArrays
from features.facts import Target
from features.lineups import PYTHAG_EXP
from features.ratings import BAT_PRIOR, REVERT, SP_PRIOR, TEAM_PRIOR


def _latest(*known: int | None) -> int | None:
    present = [k for k in known if k is not None]
    return max(present) if present else None


def _carried(timeline: Indexed, i: int, col: str, season: int, prior: float) -> float:
    """``rating_lookups._carried_expr``."""
    if i < 0:
        return prior
    value = float(timeline.cols[col][i])
    if int(timeline.cols["r_season"][i]) != season:
        return prior + (value - prior) * (1 - REVERT)
    return value


def _known(timeline: Indexed, i: int) -> int | None:
    return int(timeline.cols["known_at"][i]) if i >= 0 else None


def _lineup(arrays: TimelineArrays, t: Target, lineup: list[str] | None) -> tuple[Any, Any]:
    """``lineup_strength``: the lineup's mean rating and the latest rating row it used."""
    players = [p for p in lineup or () if p is not None]
    if not players:
        return None, None
    found = [arrays.batters.find(p, t.horizon) for p in players]
    ratings = [_carried(arrays.batters, i, "rating", t.season, BAT_PRIOR[0]) for i in found]
    total = 0.0
    for slot in range(9):
        total = total + (ratings[slot] if slot < len(ratings) else 0.0)
    return total / float(len(ratings)), _latest(*(_known(arrays.batters, i) for i in found))


def _side(arrays: TimelineArrays, t: Target, side: str, v: dict[str, Any]) -> dict[str, Any]:
    """``rating_lookups.ratings_at`` of one side."""
    out: dict[str, Any] = {}
    off, known = _lineup(arrays, t, v[f"{side}_lineup"])
    out[f"{side}_lineup_off"], out[f"{side}_lineup_known_at"] = off, known
    sp = arrays.rated_pitchers
    i = sp.find(v[f"{side}_sp_id"], t.horizon)
    out[f"{side}_sp_rating"] = _carried(sp, i, "rating", t.season, SP_PRIOR[0])
    out[f"{side}_sp_known_at"] = _known(sp, i)
    teams = arrays.rated_teams
    j = teams.find(t.home_team if side == "home" else t.away_team, t.horizon)
    out[f"{side}_def_rating"] = _carried(teams, j, "def_rating", t.season, TEAM_PRIOR[0])
    for col in ("usual_off", "league_rpg", "home_adv"):
        out[f"{side}_{col}"] = float(teams.cols[col][j]) if j >= 0 else None
    out[f"{side}_team_known_at"] = _known(teams, j)
    return out


def _sum(*terms: float | None) -> float | None:
    """Left to right, null if any term is."""
    if any(x is None for x in terms):
        return None
    total = terms[0]
    assert total is not None
    for x in terms[1:]:
        assert x is not None
        total = total + x
    return total


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def lineup_features(arrays: TimelineArrays, t: Target, v: dict[str, Any]) -> dict[str, Any]:
    """``ratings_as_of`` and every name in LINEUP_FEATURES, from ``v``'s announcements."""
    r = _side(arrays, t, "home", v) | _side(arrays, t, "away", v)
    parks = arrays.rated_parks
    k = parks.find(t.park_id, t.horizon)
    mult = float(parks.cols["park_mult"][k]) if k >= 0 else 1.0
    rpg = r["home_league_rpg"] if r["home_league_rpg"] is not None else r["away_league_rpg"]
    adv = r["home_home_adv"] if r["home_home_adv"] is not None else r["away_home_adv"]
    league = None if rpg is None else rpg * mult
    half = None if adv is None else adv / 2
    home = _sum(league, half, r["home_lineup_off"], r["away_sp_rating"], r["away_def_rating"])
    away = _sum(
        None if league is None or half is None else league - half,
        r["away_lineup_off"], r["home_sp_rating"], r["home_def_rating"],
    )  # fmt: skip
    out = {
        "exp_runs_home": home,
        "exp_runs_away": away,
        "home_lineup_vs_usual": _minus(r["home_lineup_off"], r["home_usual_off"]),
        "away_lineup_vs_usual": _minus(r["away_lineup_off"], r["away_usual_off"]),
        "exp_total": None if home is None or away is None else home + away,
        "exp_run_diff": _minus(home, away),
        "rating_home_prob": None,
    }
    if home is not None and away is not None:
        h, a = max(home, 0.5) ** PYTHAG_EXP, max(away, 0.5) ** PYTHAG_EXP
        out["rating_home_prob"] = h / (h + a)
    for side in ("home", "away"):
        out[f"{side}_sp_rating"] = r[f"{side}_sp_rating"]
        out[f"{side}_def_rating"] = r[f"{side}_def_rating"]
        out[f"{side}_lineup_off"] = r[f"{side}_lineup_off"]
    out["ratings_as_of"] = _latest(
        *(r[f"{s}_{w}_known_at"] for s in ("home", "away") for w in ("lineup", "sp", "team")),
        _known(parks, k),
    )
    return out
