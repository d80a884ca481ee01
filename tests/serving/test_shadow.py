"""Which challengers score beside which champions, how one is served when asked for, what a
shadow record holds, and the head-to-head's figures on the same games (pure logic; the
service is tested end to end in tests/e2e/test_shadow.py)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from firstpitch.serving import betting, head_to_head, shadow
from firstpitch.serving.errors import UnknownModelVersion

HOME, TOTAL = "firstpitch-home-win", "firstpitch-total-over"
FV = "fs-test"


def info(name: str, version: str, fv: str = FV) -> dict[str, str]:
    return {"name": name, "version": version, "feature_version": fv, "tag": f"{name}:{version}"}


CHAMPIONS = {"home_win": info(HOME, "3"), "total_over": info(TOTAL, "2")}


def test_challengers_replace_their_own_model_and_skip_what_cannot_score() -> None:
    announced = {
        "home_win": [info(HOME, "3"), info(HOME, "4"), info(HOME, "5", "fs-old"), info(HOME, "4")],
        "total_over": [info(TOTAL, "6")],
    }
    found = shadow.challengers_of(announced, CHAMPIONS, FV)
    assert shadow.keys(found) == (("home_win", "4"), ("total_over", "6"))
    assert [c.versions for c in found] == [("4", "2"), ("3", "6")]
    assert shadow.challengers_of({}, CHAMPIONS, FV) == ()


def test_a_challenger_is_served_only_by_its_version() -> None:
    found = shadow.challengers_of({"home_win": [info(HOME, "4")]}, CHAMPIONS, FV)
    assert shadow.served_as(CHAMPIONS, found, "home_win", "3") is None  # the champion's
    swapped = shadow.served_as(CHAMPIONS, found, "home_win", "4")
    assert swapped is not None
    assert (
        swapped["home_win"]["version"] == "4" and swapped["total_over"] == CHAMPIONS["total_over"]
    )
    with pytest.raises(UnknownModelVersion) as refused:
        shadow.served_as(CHAMPIONS, found, "home_win", "9")
    assert refused.value.status == 404
    assert "version 9 is not served" in refused.value.message
    assert (
        "champion is version 3" in refused.value.message
        and "challengers 4" in refused.value.message
    )
    with pytest.raises(UnknownModelVersion, match="with no challenger"):
        shadow.served_as(CHAMPIONS, found, "total_over", "4")


def test_a_shadow_record_is_the_served_one_with_the_challengers_answer() -> None:
    (challenger,) = shadow.challengers_of({"total_over": [info(TOTAL, "6")]}, CHAMPIONS, FV)
    odds = {"open_ml_home": -130, "open_ml_away": 120, "open_total": 8.5,
            "open_over_price": -110, "open_under_price": -110}  # fmt: skip
    policy = betting.BettingPolicy(min_edge=0.0)
    served = {"record_id": "r1", "model_name": HOME, "model_version": "3",
              "home_model_version": "3", "total_model_version": "2", "cache_hit": True,
              "home_ml_probability": 0.6, "total_over_probability": 0.5, "odds_used": odds,
              "feature_hash": "h", "shadow": False}  # fmt: skip
    (rec,) = shadow.records(
        served, {"odds_used": odds}, [(challenger, np.array([0.6, 0.71]))], policy
    )
    assert rec["shadow"] is True and rec["cache_hit"] is False and rec["record_id"] != "r1"
    assert (rec["model_name"], rec["model_version"]) == (TOTAL, "6")
    assert (rec["home_model_version"], rec["total_model_version"]) == ("3", "6")
    assert rec["total_over_probability"] == 0.71 and rec["total_over_confidence"] == 0.71
    assert rec["recommendations"] == betting.recommendations(0.6, 0.71, odds, policy)
    assert rec["feature_hash"] == "h" and served["shadow"] is False  # the served one untouched


def rows(rng: random.Random, version: str, games: list[str], shift: float) -> list[dict[str, Any]]:
    out = []
    for g in games:
        y = int(g.endswith(("1", "4", "7")))
        p = min(max(rng.uniform(0.2, 0.8) + shift * (1 if y else -1), 1e-6), 1 - 1e-6)
        loss = -np.log(p) if y else -np.log(1 - p)
        bet = rng.random() < 0.4
        out.append({"game_id": g, "model_version": version, "p": p, "y": y,
                    "correct": int((p >= 0.5) == bool(y)), "log_loss": float(loss),
                    "brier": (p - y) ** 2, "bet_profit": rng.choice([-1.0, 0.9]) if bet else None,
                    "clv": rng.uniform(-0.05, 0.05) if bet and rng.random() < 0.8 else None})  # fmt: skip
    return out


def test_the_head_to_head_counts_only_games_every_version_resolved() -> None:
    rng = random.Random(3)
    games = [f"G{i:03d}" for i in range(60)]
    data = (
        rows(rng, "3", games, 0.0)
        + rows(rng, "4", games[5:], 0.1)
        + rows(rng, "5", games[:50], -0.05)
    )
    out = head_to_head.compare(data, "3", ["4", "5"], "log_loss")
    common = games[5:50]
    assert out["games"] == len(common)
    entries = {e["model_version"]: e for e in out["entries"]}
    by = {(r["model_version"], r["game_id"]): r for r in data}
    for v in ("3", "4", "5"):
        mine = [by[v, g] for g in common]
        assert entries[v]["games"] == len(common)
        assert entries[v]["log_loss"] == pytest.approx(np.mean([r["log_loss"] for r in mine]))
        bets = [r["bet_profit"] for r in mine if r["bet_profit"] is not None]
        assert entries[v]["bets"] == len(bets) and entries[v]["roi"] == pytest.approx(np.mean(bets))
    assert [e["model_version"] for e in out["entries"]] == sorted(
        entries, key=lambda v: entries[v]["log_loss"]
    )
    assert entries["3"]["role"] == "champion" and entries["4"]["role"] == "challenger"
    for cmp in out["comparisons"]:
        v = cmp["model_version"]
        a = np.array([by[v, g]["log_loss"] for g in common])
        b = np.array([by["3", g]["log_loss"] for g in common])
        test = stats.ttest_rel(a, b)
        interval = test.confidence_interval(0.95)
        got = cmp["log_loss"]
        assert got["mean_difference"] == pytest.approx(float((a - b).mean()), rel=1e-12)
        assert got["ci_low"] == pytest.approx(interval.low, rel=1e-9)
        assert got["ci_high"] == pytest.approx(interval.high, rel=1e-9)
        assert got["p_value"] == pytest.approx(test.pvalue, rel=1e-9)
    better = {c["model_version"]: c["log_loss"]["mean_difference"] for c in out["comparisons"]}
    assert better["4"] < 0 < better["5"]  # the sharper challenger has the lower log loss


def test_calibration_error_is_the_weighted_gap_per_bin() -> None:
    p = np.array([0.05, 0.15, 0.15, 0.95, 0.55])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    # bins: 0 -> |0.05 - 0|, 1 -> |0.15 - 0.5| (two games), 9 -> |0.95 - 1|, 5 -> |0.55 - 0|
    want = (0.05 + 2 * 0.35 + 0.05 + 0.55) / 5
    assert head_to_head.calibration_error(p, y) == pytest.approx(want)


def test_no_games_in_common_gives_empty_figures() -> None:
    data = rows(random.Random(1), "3", ["G1", "G2"], 0.0) + rows(random.Random(2), "4", ["G3"], 0.0)
    out = head_to_head.compare(data, "3", ["4"], "roi")
    assert out["games"] == 0 and all(e["log_loss"] is None for e in out["entries"])
    assert out["comparisons"][0]["log_loss"]["ci_low"] is None
