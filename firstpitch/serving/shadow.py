"""Challengers in shadow: versions carrying a ``challenger`` alias score every game the
champions score, and their answers are logged flagged ``shadow``, never served, unless a
client names the challenger's ``model_version``. A request's games are scored after its
response: with the models in the API process, by the prediction log's writer process from
the frame the served records go in (``writer_shadows.py``), off the worker's core; else (the
model service, or no writer) in one model call for the requests of a short window
(``shadow_queue.py``). A re-pricing scores them in the champions' own call, as it logs both
with its event.

A challenger replaces its own model's champion and keeps the other model's, so a shadow
record names the two versions it was computed with and replays like any record. The
announced set (``storage/challenger_state.py``) is followed like the champion set
(``serving/lifecycle.py``); a challenger that is the champion now, or was trained on another
feature set, is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from firstpitch.serving import betting
from firstpitch.serving.errors import UnknownModelVersion
from storage.log_records import new_record_id

TARGETS = ("home_win", "total_over")
PROBABILITY = {"home_win": "home_ml_probability", "total_over": "total_over_probability"}
CONFIDENCE = {"home_win": "home_ml_confidence", "total_over": "total_over_confidence"}


@dataclass(frozen=True)
class Challenger:
    """One challenger version: its model (target), as the champion set describes a model,
    and the (home-win, total-over) versions it is scored with."""

    target: str
    info: dict[str, str]
    versions: tuple[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return self.target, self.info["version"]


def challengers_of(
    announced: dict[str, list[dict[str, str]]],
    champions: dict[str, dict[str, str]],
    feature_version: str,
) -> tuple[Challenger, ...]:
    """The announced challengers that can score beside ``champions`` (target -> info)."""
    out = []
    home, total = champions["home_win"]["version"], champions["total_over"]["version"]
    for target in TARGETS:
        seen = {champions[target]["version"]}
        for info in announced.get(target, []):
            version = info.get("version", "")
            if version in seen or info.get("feature_version") != feature_version:
                continue
            seen.add(version)
            versions = (version, total) if target == "home_win" else (home, version)
            out.append(Challenger(target, info, versions))
    return tuple(out)


def keys(challengers: tuple[Challenger, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(c.key for c in challengers)


def served_as(
    champions: dict[str, dict[str, str]],
    challengers: tuple[Challenger, ...],
    target: str,
    version: str,
) -> dict[str, dict[str, str]] | None:
    """The model set that serves a client asking for ``version`` of ``target``'s model: None
    for the champion's, the champions with that challenger in its place for a challenger's."""
    champion = champions[target]
    if version == champion["version"]:
        return None
    for c in challengers:
        if c.key == (target, version):
            return champions | {target: c.info}
    others = [c.info["version"] for c in challengers if c.target == target]
    raise UnknownModelVersion(
        f"{champion['name']} version {version} is not served: the champion is version "
        f"{champion['version']}"
        + (f", challengers {', '.join(others)}" if others else ", with no challenger")
        + "; omit model_version for the champion"
    )


def records(
    served: dict[str, Any],
    entry: dict[str, Any],
    scored: list[tuple[Challenger, np.ndarray]],
    policy: betting.BettingPolicy,
) -> list[dict[str, Any]]:
    """The shadow records of one computed game: the served record ``served`` with each
    challenger's answer in place of the champion's."""
    out = []
    for challenger, probs in scored:
        p_home, p_over = float(probs[0]), float(probs[1])
        record = dict(served)
        record.update(
            record_id=new_record_id(),
            model_name=challenger.info["name"],
            model_version=challenger.info["version"],
            home_model_version=challenger.versions[0],
            total_model_version=challenger.versions[1],
            cache_hit=False,
            home_ml_probability=p_home,
            total_over_probability=p_over,
            home_ml_confidence=betting.confidence(p_home),
            total_over_confidence=betting.confidence(p_over),
            recommendations=betting.recommendations(p_home, p_over, entry["odds_used"], policy),
            shadow=True,
        )
        out.append(record)
    return out
