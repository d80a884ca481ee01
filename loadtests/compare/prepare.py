"""The comparison's preparation: firstpitch's stack with the clock pinned after the 2021
regular season, the games and their feature vectors as the service reads them from Redis,
and the home-win champion (exported as a LightGBM text model for MLServer)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.harness.reports import sayer
from loadtests.harness.stack import Stack, open_stack, season_games, season_ready

PINNED = "2021-10-04T12:00:00Z"
RUN_ID = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
SINGLE_GAMES = 1000  # distinct games rotated through by single-game scenarios
MLSERVER_MODEL = "home-win"
say = sayer("compare")


@dataclass
class Prepared:
    stack: Stack
    games: list[str]
    vectors: dict[str, np.ndarray]
    feature_names: tuple[str, ...]
    booster: Any
    champion: dict[str, str]

    @property
    def settings(self) -> Any:
        return self.stack.settings

    @property
    def endpoints(self) -> Any:
        return self.stack.endpoints

    def rows(self, games: list[str]) -> list[list[float]]:
        """The games' feature vectors (NaN for a missing value), as the peers get them."""
        return [self.vectors[g].tolist() for g in games]


async def _games_and_vectors(stack: Stack) -> tuple[list[str], dict[str, np.ndarray]]:
    from features.definitions import FEATURE_VERSION
    from features.store import FeatureStore
    from storage import redis as fp_redis

    await season_ready(stack, 2021, say)
    games = await season_games(stack.endpoints.postgres_dsn, 2021)
    client = await fp_redis.connect(stack.endpoints.redis_url)
    try:
        found, refused = await FeatureStore(client, stack.settings.feature_ttl_s).read(
            games, FEATURE_VERSION
        )
    finally:
        await client.aclose()
    if refused:
        say(f"{len(refused)} games refused by the cutoff check; left out")
    usable = [g for g in games if g in found]
    return usable, {g: found[g].values for g in usable}


def prepare(work: Path) -> Prepared:
    """Everything the targets need; the embedded servers started here are in
    ``Prepared.stack.started`` (the caller stops them)."""
    stack = open_stack(PINNED)
    try:
        games, vectors = asyncio.run(_games_and_vectors(stack))
    except BaseException:
        stack.stop_started(say)
        raise
    if len(games) < 100:
        stack.stop_started(say)
        raise SystemExit(f"only {len(games)} servable 2021 games in the feature store")

    from features.definitions import FEATURE_NAMES
    from runners.champions import load_champions

    champ = load_champions()["home_win"]
    model_dir = work / "models" / MLSERVER_MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    champ.booster.save_model(str(model_dir / "model.txt"))
    info = champ.info()
    info["lightgbm_text_model"] = str(model_dir / "model.txt")
    info["num_trees"] = str(champ.booster.num_trees())
    say(
        f"champion {champ.name} v{champ.version} ({champ.mlflow_uri}), "
        f"{champ.booster.num_trees()} trees, {len(FEATURE_NAMES)} features; "
        f"{len(games)} games"
    )
    return Prepared(stack, games, vectors, FEATURE_NAMES, champ.booster, info)
