"""Boosters of named model versions (any version, not only the champion), for replays.

A version is loaded from the BentoML store when it was imported there (every champion was);
otherwise it is imported from the MLflow registry first, labelled ``replay`` so that it can
never be mistaken for a champion. Loaded boosters are kept (a few versions, least recently
used dropped), so replaying many records of the same versions loads each once.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path

from runners.champions import PREDICT_THREADS
from runners.fast_predict import FastBooster
from storage.registry import bento_version, import_version, load_booster

REPLAY_STAGE = "replay"


class VersionNotFound(LookupError):
    """Neither the BentoML store nor the MLflow registry holds the version."""


class VersionedBoosters:
    def __init__(self, tracking_uri: str, artifacts: Path, keep: int = 8) -> None:
        self.tracking_uri, self.artifacts, self.keep = tracking_uri, artifacts, keep
        self._loaded: collections.OrderedDict[tuple[str, str], FastBooster] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()  # loads run in worker threads

    def get(self, name: str, version: str) -> FastBooster:
        """The booster of ``name`` version ``version`` (blocking: call it off the loop)."""
        key = (name, version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            booster = FastBooster(load_booster(self._bento(name, version)), PREDICT_THREADS)
            self._loaded[key] = booster
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
            return booster

    def _bento(self, name: str, version: str) -> object:
        model = bento_version(name, version)
        if model is not None:
            return model
        from mlflow.exceptions import MlflowException

        try:
            import_version(self.tracking_uri, self.artifacts, name, version, REPLAY_STAGE)
        except MlflowException as exc:
            raise VersionNotFound(
                f"{name} version {version} is in neither the BentoML store nor the MLflow registry"
            ) from exc
        model = bento_version(name, version)
        if model is None:  # pragma: no cover - the import just wrote it
            raise VersionNotFound(f"{name} version {version} could not be imported")
        return model
