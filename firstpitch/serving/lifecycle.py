"""Champions swapped while serving: each worker follows the announced champion set.

A ``Predictor`` is built for one set of versions and calls the models through
``BoundModels``, which names those versions in every call (to the model service: in every
row it sends, ``runners/versions.py``),
so an answer is always by the versions its ``models`` field names, whichever versions the
model service holds. A swap loads the new versions first (``backend.load_versions``), then
replaces the worker's predictor in one assignment: requests already running finish with the
predictor they started with; every later one uses the new versions, whose cache keys are
their own (``fp:pred:{home}:{total}:...``), so no answer of the old champion is served after.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from features.definitions import FEATURE_VERSION
from firstpitch.serving import shadow
from firstpitch.serving.models import Array, ModelBackend
from firstpitch.serving.outages import OutageLog, unavailable_dependency
from firstpitch.serving.predictor import ServedModels
from storage import challenger_state, champion_state

if TYPE_CHECKING:
    from firstpitch.serving.runtime import ApiRuntime

log = logging.getLogger(__name__)


class BoundModels:
    """A backend fixed to one set of versions (home-win, total-over)."""

    def __init__(self, backend: ModelBackend, versions: tuple[str, str]) -> None:
        self.backend, self.versions = backend, versions

    async def predict(self, x: Array) -> Array:
        return await self.backend.predict_for(x, self.versions)

    async def explain(self, x: Array) -> Array:
        return await self.backend.explain_for(x, self.versions)

    async def info(self) -> dict[str, dict[str, str]]:
        return await self.backend.info()

    async def predict_for(self, x: Array, versions: tuple[str, str]) -> Array:
        return await self.backend.predict_for(x, versions)

    async def explain_for(self, x: Array, versions: tuple[str, str]) -> Array:
        return await self.backend.explain_for(x, versions)

    async def load_versions(self, versions: tuple[str, str]) -> None:
        await self.backend.load_versions(versions)

    async def predict_sets(self, x: Array, sets: list[tuple[str, str]]) -> list[Array]:
        return await self.backend.predict_sets(x, sets)


async def adopt(
    rt: ApiRuntime,
    info: dict[str, dict[str, str]],
    announced: dict[str, list[dict[str, str]]] | None = None,
) -> bool:
    """Serve the champion set ``info``, with the ``announced`` challengers scoring in shadow,
    from now on (False: it already serves, or it cannot)."""
    current = await rt.predictor()
    served = ServedModels(info)
    challengers = shadow.challengers_of(announced or {}, info, FEATURE_VERSION)
    if served.versions == current.served.versions and shadow.keys(challengers) == shadow.keys(
        current.challengers
    ):
        return False
    if {m.get("feature_version") for m in info.values()} != {FEATURE_VERSION}:
        log.error(
            "champions %s not adopted: trained on feature set %s, this code computes %s",
            served.versions, served.feature_version, FEATURE_VERSION,
        )  # fmt: skip
        return False
    await rt.backend.load_versions(served.versions)
    loaded = []
    for challenger in challengers:
        try:
            await rt.backend.load_versions(challenger.versions)
            loaded.append(challenger)
        except Exception:  # a challenger that cannot load must not hold the champions back
            log.exception("challenger %s not loaded; retried at the next poll", challenger.key)
    if served.versions == current.served.versions and shadow.keys(tuple(loaded)) == shadow.keys(
        current.challengers
    ):
        return False
    rt.install(served, tuple(loaded))
    log.info(
        "champions now %s (were %s), challengers %s",
        served.versions, current.served.versions, shadow.keys(tuple(loaded)),
    )  # fmt: skip
    return True


async def follow(rt: ApiRuntime) -> None:
    """Check the announced champions every ``champion_poll_s``; adopt any change."""
    outages = OutageLog(log)
    while True:
        await asyncio.sleep(rt.settings.champion_poll_s)
        try:
            info = await champion_state.read(rt.redis)
            if info is None:  # nothing promoted while serving: the service's own champions
                info = (await rt.predictor()).served.info
            scoring = rt.settings.shadow_scoring
            await adopt(rt, info, await challenger_state.read(rt.redis) if scoring else {})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            dependency = unavailable_dependency(exc)
            if dependency is None:
                log.exception("following the champions failed; retrying")
            else:
                outages.warn(dependency, "champion changes followed again once it is back", exc)
