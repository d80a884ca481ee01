"""Feature vectors of a few targets from the timelines' numpy columns, without Polars.

The same features as ``features_at`` (``features/pipeline.py``, the reference that builds
the training frame), computed per target in Python: each as-of join becomes a search over one
key's known times (``features/arrays.py``), and each expression the same float operations in
the same order, on the same values, with nulls kept as None until the vector (NaN there).
Python floats and Polars' Float64 are both IEEE doubles and both call the C library's
``pow``, so the bytes are the same; ``tests/features/test_lookup.py`` compares the two paths
on hundreds of real games and horizons. Only the timelines' sums and ratings are read; the
per-game arithmetic below mirrors the expressions line by line, in their order:
``pipeline._side_features`` (``_side``), ``elo.ratings_at`` (``_elo``), ``features_at``
(``_derived``); ``features/lookup_ratings.py`` and ``features/lookup_market.py`` mirror the
lineup and market halves.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from features import elo
from features.arrays import TimelineArrays, find_keyed, last_at
from features.definitions import FEATURE_NAMES, FEATURE_VERSION
from features.facts import Target
from features.lines import CURRENT_PRICES, OPEN_PRICES, SEEN
from features.lookup_market import market
from features.lookup_ratings import lineup_features
from features.pipeline import PYTHAG_EXP
from features.vectors import FeatureVector, GameMeta

# Polars gives Datetime("us", "UTC") values with this zone: the same objects as that path.
ZONE = ZoneInfo("UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=ZONE)
EPOCH_DAY = date(1970, 1, 1)
FORM = (
    "form_win_10", "form_win_30", "form_rd_10", "form_rd_30", "form_rf_10", "form_ra_10",
    "hits_pg_30", "hr_pg_30", "bb_pg_30", "so_pg_30", "errors_pg_30",
)  # fmt: skip
Values = dict[str, Any]


def moment(micros: int | None) -> datetime | None:
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def latest(*known: int | None) -> int | None:
    """max_horizontal: the latest of the times given, nulls left out."""
    present = [k for k in known if k is not None]
    return max(present) if present else None


def minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def announced(t: Target) -> Values:
    """``announced_at``: each side's starter and lineup as announced by the horizon (the
    latest announcement of each kind known by then; known_at is unique per kind)."""
    out: Values = {}
    for side in ("home", "away"):
        for kind, name in (("starter", "sp"), ("lineup", "lineup")):
            picked = [a for a in t.announced if a[0] == side and a[1] == kind and a[3] <= t.horizon]
            last = max(picked, key=lambda a: a[3]) if picked else None
            players = last[2].split(" ") if last else None
            if kind == "starter":
                out[f"{side}_sp_id"] = players[0] if players else None
            else:
                out[f"{side}_lineup"] = players
            out[f"{side}_{name}_known_at"] = last[3] if last else None
    return out


def _side(arrays: TimelineArrays, t: Target, side: str, pitcher: str | None, out: Values) -> None:
    """``_side_features`` of one side: the team's row and the starter's as of the horizon."""
    team = t.home_team if side == "home" else t.away_team
    cols, j = find_keyed(arrays.teams, team, t.horizon)
    f: Values = dict.fromkeys(FORM)
    f.update(std_win_pct=None, std_rd_pg=None, std_rf_pg=None, std_ra_pg=None,
             std_pythag=None, split_win_pct=None, rest_days=None, std_games=0.0)  # fmt: skip
    t_known = None
    if j >= 0:
        t_known = int(cols["known_at"][j])
        for name in FORM:
            f[name] = float(cols[name][j])
        f["rest_days"] = float((t.game_date - EPOCH_DAY).days - int(cols["game_date"][j]))
        if int(cols["season"][j]) == t.season:
            games = float(cols["std_games"][j])
            rf, ra = float(cols["std_rf"][j]), float(cols["std_ra"][j])
            f["std_games"] = games
            f["std_win_pct"] = float(cols["std_wins"][j]) / games
            f["std_rd_pg"] = (rf - ra) / games
            f["std_rf_pg"] = rf / games
            f["std_ra_pg"] = ra / games
            if rf + ra > 0:
                f["std_pythag"] = rf**PYTHAG_EXP / (rf**PYTHAG_EXP + ra**PYTHAG_EXP)
            split = ("std_home_wins", "std_home_games") if side == "home" else (
                "std_road_wins", "std_road_games")  # fmt: skip
            played = int(cols[split[1]][j])
            if played > 0:
                f["split_win_pct"] = float(cols[split[0]][j]) / float(played)
    sp, k = find_keyed(arrays.pitchers, pitcher, t.horizon)
    f.update(sp_ra_5=None, sp_er_5=None, sp_win_5=None, sp_starts_season=0.0, sp_days_rest=None)
    p_known = None
    if k >= 0:
        p_known = int(sp["known_at"][k])
        for name in ("sp_ra_5", "sp_er_5", "sp_win_5"):
            f[name] = float(sp[name][k])
        if int(sp["season"][k]) == t.season:
            f["sp_starts_season"] = float(sp["sp_starts"][k])
        f["sp_days_rest"] = float((t.game_date - EPOCH_DAY).days - int(sp["game_date"][k]))
    out[f"{side}_as_of"] = latest(t_known, p_known)
    for name, value in f.items():
        out[f"{side}_{name}"] = value


def _elo(arrays: TimelineArrays, t: Target, side: str, out: Values) -> None:
    """``elo.ratings_at``: the team's rating as of the horizon, reverted in a new season."""
    i = arrays.elo.find(t.home_team if side == "home" else t.away_team, t.horizon)
    rating, known = elo.MEAN, None
    if i >= 0:
        rating = float(arrays.elo.cols["rating"][i])
        known = int(arrays.elo.cols["known_at"][i])
        if int(arrays.elo.cols["r_season"][i]) != t.season:
            rating = rating + (elo.MEAN - rating) * elo.REVERT
    out[f"elo_{side}"], out[f"elo_{side}_known_at"] = rating, known


def _grounds(arrays: TimelineArrays, t: Target, out: Values) -> None:
    """The park's and the league's runs per game as of the horizon."""
    cols, j = find_keyed(arrays.parks, t.park_id, t.horizon)
    out["park_runs_pg"] = float(cols["park_runs_pg"][j]) if j >= 0 else None
    out["park_known_at"] = int(cols["known_at"][j]) if j >= 0 else None
    league = arrays.league.cols
    i = last_at(league["known_at"], t.horizon)
    out["league_runs_pg"] = float(league["league_runs_pg"][i]) if i >= 0 else None
    out["league_known_at"] = int(league["known_at"][i]) if i >= 0 else None


def _derived(t: Target, v: Values) -> None:
    """The last step of ``features_at``: differences, ratios and the game's own columns."""
    v["elo_diff"] = v["elo_home"] - v["elo_away"]
    v["elo_home_prob"] = elo.expected(v["elo_diff"] + elo.HOME_ADVANTAGE)
    for name in ("form_win_10", "std_win_pct", "std_rd_pg", "sp_ra_5"):
        v[f"diff_{name}"] = minus(v[f"home_{name}"], v[f"away_{name}"])
    park, league = v["park_runs_pg"], v["league_runs_pg"]
    v["park_factor"] = None if park is None or league is None else park / league
    v["is_night"] = float(t.day_night == "N")
    v["day_of_week"] = float(t.game_date.isoweekday())
    v["month"] = float(t.game_date.month)
    v["game_num"] = float(t.game_num)
    v["is_postseason"] = float(t.game_type != "regular")
    v["mkt_has_line"] = float(v["mkt_home_prob_open"] is not None)
    v["as_of"] = latest(
        *(v[k] for k in ("home_as_of", "away_as_of", "home_sp_known_at", "away_sp_known_at")),
        *(v[k] for k in ("elo_home_known_at", "elo_away_known_at", "park_known_at")),
        v["league_known_at"], v["lines_known_at"], v["ratings_as_of"],
    )  # fmt: skip


def values(arrays: TimelineArrays, t: Target) -> Values:
    """Every feature of ``t`` (None where the Polars path has null) and the prices."""
    v = announced(t)
    for side in ("home", "away"):
        _side(arrays, t, side, v[f"{side}_sp_id"], v)
        _elo(arrays, t, side, v)
    _grounds(arrays, t, v)
    v.update(market(t))
    v.update(lineup_features(arrays, t, v))
    _derived(t, v)
    return v


def vector(arrays: TimelineArrays, t: Target) -> FeatureVector:
    v = values(arrays, t)
    features = np.array([np.nan if v[n] is None else v[n] for n in FEATURE_NAMES], np.float64)
    horizon = moment(t.horizon)
    assert horizon is not None
    meta = {k: v[k] for k in (*OPEN_PRICES, *CURRENT_PRICES)}
    meta.update({k: moment(v[k]) for k in SEEN})
    return FeatureVector(
        game_id=t.game_id,
        feature_version=FEATURE_VERSION,
        as_of=moment(v["as_of"]) or horizon,
        cutoff=EPOCH + timedelta(microseconds=t.cutoff),
        horizon=horizon,
        values=features,
        meta=GameMeta(
            home_team=t.home_team,
            away_team=t.away_team,
            game_date=t.game_date.isoformat(),
            scheduled_start=EPOCH + timedelta(microseconds=t.scheduled_start),
            game_type=t.game_type,
            **meta,
        ),
    )


def vectors(arrays: TimelineArrays, targets: list[Target]) -> dict[str, FeatureVector]:
    """Vectors of ``targets`` by game id: the bytes ``features_at`` gives for them."""
    return {t.game_id: vector(arrays, t) for t in sorted(targets, key=lambda t: t.game_id)}
