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

import numpy as np
import numpy.typing as npt

from runners.champions import PREDICT_THREADS, TARGET_ORDER
from runners.fast_predict import FastBooster
from storage.registry import bento_version, import_version, load_booster
from training.dataset import REGISTERED_NAMES

REPLAY_STAGE = "replay"


class VersionNotFound(LookupError):
    """Neither the BentoML store nor the MLflow registry holds the version."""


class VersionedBoosters:
    def __init__(self, tracking_uri: str, artifacts: Path, keep: int = 8) -> None:
        self.tracking_uri, self.artifacts, self.keep = tracking_uri, artifacts, keep
        self._loaded: collections.OrderedDict[tuple[str, str], FastBooster] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()  # calls come from worker threads

    def get(self, name: str, version: str) -> FastBooster:
        """The booster of ``name`` version ``version`` (blocking: call it off the loop)."""
        key = (name, version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        # loaded outside the lock: calls for versions already loaded never wait on a load
        booster = FastBooster(load_booster(self._bento(name, version)), PREDICT_THREADS)
        self.put(name, version, booster)
        return booster

    def put(self, name: str, version: str, booster: FastBooster) -> None:
        """Keep an already loaded booster (the champions loaded at start)."""
        with self._lock:
            self._loaded[(name, version)] = booster
            self._loaded.move_to_end((name, version))
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)

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


# A versioned row: the feature values, then the home-win and the total-over model versions
# (registry version numbers, as floats). Requests for different versions share one batch;
# each version's rows go through its own booster.
VERSION_COLUMNS = 2


def with_versions(x: npt.NDArray[np.float64], versions: tuple[str, str]) -> npt.NDArray[np.float64]:
    tags = np.tile(np.array([float(v) for v in versions]), (x.shape[0], 1))
    return np.hstack([np.asarray(x, dtype=np.float64), tags])


def _groups(
    boosters: VersionedBoosters, x: npt.NDArray[np.float64]
) -> list[tuple[int, FastBooster, npt.NDArray[np.bool_] | slice, npt.NDArray[np.float64]]]:
    rows, versions = x[:, :-VERSION_COLUMNS], x[:, -VERSION_COLUMNS:]
    out: list[tuple[int, FastBooster, npt.NDArray[np.bool_] | slice, npt.NDArray[np.float64]]]
    out = []
    for k, target in enumerate(TARGET_ORDER):
        column = versions[:, k]
        # the common case, every row by one version: no masks, no copies
        same = bool((column == column[0]).all()) if len(column) else True
        for v in column[:1] if same else np.unique(column):
            if not float(v).is_integer() or v < 1:
                raise ValueError(f"not a model version: {v!r}")
            booster = boosters.get(REGISTERED_NAMES[target], str(int(v)))
            mask: npt.NDArray[np.bool_] | slice = slice(None) if same else column == v
            out.append((k, booster, mask, rows if same else rows[mask]))
    return out


def predict_versioned(
    boosters: VersionedBoosters, x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(n, F + 2) versioned rows -> (n, 2): each row by the versions it names."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], len(TARGET_ORDER)), dtype=np.float64)
    for k, booster, mask, rows in _groups(boosters, x):
        out[mask, k] = booster.predict(rows)
    return out


def explain_versioned(
    boosters: VersionedBoosters, x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(n, F + 2) versioned rows -> (n, 2, F + 1) contributions by the versions named."""
    x = np.asarray(x, dtype=np.float64)
    width = x.shape[1] - VERSION_COLUMNS + 1
    out = np.empty((x.shape[0], len(TARGET_ORDER), width), dtype=np.float64)
    for k, booster, mask, rows in _groups(boosters, x):
        out[mask, k] = booster.contrib(rows)
    return out
