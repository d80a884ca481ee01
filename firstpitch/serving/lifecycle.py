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
from firstpitch.serving.models import Array, ModelBackend
from firstpitch.serving.outages import OutageLog, unavailable_dependency
from firstpitch.serving.predictor import ServedModels
from storage import champion_state

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


async def adopt(rt: ApiRuntime, info: dict[str, dict[str, str]]) -> bool:
    """Serve the champion set ``info`` from now on (False: it already serves, or it cannot)."""
    current = await rt.predictor()
    served = ServedModels(info)
    if served.versions == current.served.versions:
        return False
    if {m.get("feature_version") for m in info.values()} != {FEATURE_VERSION}:
        log.error(
            "champions %s not adopted: trained on feature set %s, this code computes %s",
            served.versions, served.feature_version, FEATURE_VERSION,
        )  # fmt: skip
        return False
    await rt.backend.load_versions(served.versions)
    rt.install(served)
    log.info("champions now %s (were %s)", served.versions, current.served.versions)
    return True


async def follow(rt: ApiRuntime) -> None:
    """Check the announced champions every ``champion_poll_s``; adopt any change."""
    outages = OutageLog(log)
    while True:
        await asyncio.sleep(rt.settings.champion_poll_s)
        try:
            info = await champion_state.read(rt.redis)
            if info is not None:
                await adopt(rt, info)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            dependency = unavailable_dependency(exc)
            if dependency is None:
                log.exception("following the champions failed; retrying")
            else:
                outages.warn(dependency, "champion changes followed again once it is back", exc)
