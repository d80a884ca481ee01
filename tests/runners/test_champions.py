"""A champion trained on another feature set is never served against today's vectors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from features.definitions import FEATURE_VERSION
from firstpitch import bootstrap
from runners import champions


def _stored(version: str) -> SimpleNamespace:
    return SimpleNamespace(tag="firstpitch-home-win:old", info=SimpleNamespace(
        labels={"feature_version": version, "mlflow_version": "1"}))  # fmt: skip


def test_a_champion_of_an_older_feature_set_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(champions, "bento_champion", lambda name: _stored("fs-2026.11.1"))
    with pytest.raises(champions.NoChampion, match=f"fs-2026.11.1.*{FEATURE_VERSION}"):
        champions.load_champions()


def test_bring_up_retrains_when_the_feature_set_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap.registry, "bento_champion", lambda name: _stored("fs-old"))
    assert bootstrap.needs_champion("firstpitch-home-win")
    monkeypatch.setattr(bootstrap.registry, "bento_champion",
                        lambda name: _stored(FEATURE_VERSION))  # fmt: skip
    assert not bootstrap.needs_champion("firstpitch-home-win")
