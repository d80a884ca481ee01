"""How the API reaches the models: the batching model service, or boosters in process."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
Array = npt.NDArray[np.float64]
RETRYABLE = {HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS}


class ModelBackend(Protocol):
    async def predict(self, x: Array) -> Array: ...
    async def explain(self, x: Array) -> Array: ...
    async def info(self) -> dict[str, dict[str, str]]: ...
    # By named versions (home-win, total-over): any version, not only the champions loaded
    # at start. load_versions() loads versions ahead of their first call.
    async def predict_for(self, x: Array, versions: tuple[str, str]) -> Array: ...
    async def explain_for(self, x: Array, versions: tuple[str, str]) -> Array: ...
    async def load_versions(self, versions: tuple[str, str]) -> None: ...
    # The same rows by several version sets at once (the champions and their challengers):
    # one (n, 2) answer per set, from one model call where the backend batches.
    async def predict_sets(self, x: Array, sets: list[tuple[str, str]]) -> list[Array]: ...


class ModelUnavailable(RuntimeError):
    """The model service did not answer within the retry budget."""


class RemoteModels:
    """Calls the model service through its ``bentoml.depends`` proxy.

    Retries what is safe to retry — the batcher shedding a request (503), a refused or
    dropped connection — with jittered exponential backoff, all within ``deadline_s``.
    Predictions are pure, so a retried call is harmless.

    A model-service process that dies leaves its listening socket with BentoML's arbiter:
    calls are accepted and then wait, unanswered, until a new process is up. So a call that
    misses its deadline opens a breaker: for ``cooldown_s`` calls fail at once (503), then
    one trial call is let through to see whether the service is back.
    """

    def __init__(
        self,
        proxy: Any,
        attempts: int = 6,
        base_delay: float = 0.005,
        deadline_s: float = 2.0,
        cooldown_s: float = 1.0,
    ) -> None:
        self.proxy = proxy
        self.attempts = attempts
        self.base_delay = base_delay
        self.deadline_s, self.cooldown_s = deadline_s, cooldown_s
        self.retries = 0
        self._down_until = 0.0
        self._trial = False

    async def _call(self, method: str, *args: Any) -> Any:
        now = time.monotonic()
        if now < self._down_until or (self._down_until and self._trial):
            raise ModelUnavailable("model service unavailable (breaker open)")
        trial = bool(self._down_until)
        self._trial = trial
        try:
            async with asyncio.timeout(self.deadline_s):
                result = await self._attempts(method, *args)
        except TimeoutError as exc:
            self._down_until = time.monotonic() + self.cooldown_s
            raise ModelUnavailable(
                f"model service {method} unanswered within {self.deadline_s} s"
            ) from exc
        finally:
            if trial:
                self._trial = False
        self._down_until = 0.0
        return result

    async def _attempts(self, method: str, *args: Any) -> Any:
        import aiohttp
        from bentoml.exceptions import BentoMLException

        for attempt in range(1, self.attempts + 1):
            try:
                return await getattr(self.proxy.to_async, method)(*args)
            except BentoMLException as exc:
                if getattr(exc, "error_code", None) not in RETRYABLE or attempt == self.attempts:
                    raise ModelUnavailable(f"model service {method} failed: {exc}") from exc
                reason = "shed by the batcher"
            # ClientPayloadError: the answer cut off after its headers (the process killed
            # while it answered); a model call changes nothing, so it is retried like a drop
            except (
                TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
                RuntimeError,
            ) as exc:  # fmt: skip
                if attempt == self.attempts:
                    raise ModelUnavailable(f"model service {method} unreachable: {exc}") from exc
                reason = f"connection: {exc}"
            self.retries += 1
            delay = self.base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            log.info("retrying model %s (attempt %d, %s) in %.3f s", method, attempt, reason, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def predict(self, x: Array) -> Array:
        return np.asarray(await self._call("predict", x), dtype=np.float64)

    async def explain(self, x: Array) -> Array:
        return np.asarray(await self._call("explain", x), dtype=np.float64)

    async def info(self) -> dict[str, dict[str, str]]:
        return dict(await self._call("info"))

    async def predict_for(self, x: Array, versions: tuple[str, str]) -> Array:
        """Rows carrying their versions (runners/versions.py): they share batches with rows
        of other versions, each predicted by its own."""
        from runners.versions import with_versions

        rows = with_versions(x, versions)
        return np.asarray(await self._call("predict_as", rows), dtype=np.float64)

    async def explain_for(self, x: Array, versions: tuple[str, str]) -> Array:
        from runners.versions import with_versions

        rows = with_versions(x, versions)
        return np.asarray(await self._call("explain_as", rows), dtype=np.float64)

    async def predict_sets(self, x: Array, sets: list[tuple[str, str]]) -> list[Array]:
        """Every set's rows in one ``predict_as`` call (one batch in the model service)."""
        from runners.versions import with_versions

        rows = np.vstack([with_versions(x, versions) for versions in sets])
        out = np.asarray(await self._call("predict_as", rows), dtype=np.float64)
        n = x.shape[0]
        return [out[k * n : (k + 1) * n] for k in range(len(sets))]

    async def load_versions(self, versions: tuple[str, str]) -> None:
        """One call with the versions: the replica answering it loads them. (The others
        load them on their first call, from the same store.)"""
        from features.definitions import FEATURE_NAMES

        await self.predict_for(np.full((1, len(FEATURE_NAMES)), np.nan), versions)


class LocalModels:
    """The same champions, loaded in the API process: no hop, no batching."""

    def __init__(self, tracking_uri: str, artifacts: Path) -> None:
        from runners.champions import load_champions
        from runners.versions import VersionedBoosters

        self.models = load_champions()
        self.versions = VersionedBoosters(tracking_uri, artifacts)
        for model in self.models.values():
            self.versions.put(model.name, model.version, model.fast)

    async def predict(self, x: Array) -> Array:
        from runners.champions import predict_all

        return predict_all(self.models, x)

    async def explain(self, x: Array) -> Array:
        from runners.champions import explain_all

        return explain_all(self.models, x)

    async def info(self) -> dict[str, dict[str, str]]:
        return {target: model.info() for target, model in self.models.items()}

    async def predict_for(self, x: Array, versions: tuple[str, str]) -> Array:
        return np.column_stack([b.predict(x) for b in self._boosters(versions)])

    async def explain_for(self, x: Array, versions: tuple[str, str]) -> Array:
        return np.stack([b.contrib(x) for b in self._boosters(versions)], axis=1)

    async def predict_sets(self, x: Array, sets: list[tuple[str, str]]) -> list[Array]:
        """Each distinct (model, version) predicts the rows once: a challenger's set shares
        the other model's champion with the champions' set."""
        from runners.champions import TARGET_ORDER
        from training.dataset import REGISTERED_NAMES

        columns: dict[tuple[str, str], Array] = {}
        out = []
        for versions in sets:
            for target, version in zip(TARGET_ORDER, versions, strict=True):
                if (target, version) not in columns:
                    booster = self.versions.get(REGISTERED_NAMES[target], version)
                    columns[target, version] = booster.predict(x)
            out.append(
                np.column_stack(
                    [columns[t, v] for t, v in zip(TARGET_ORDER, versions, strict=True)]
                )
            )
        return out

    def _boosters(self, versions: tuple[str, str]) -> list[Any]:
        from runners.champions import TARGET_ORDER
        from training.dataset import REGISTERED_NAMES

        return [
            self.versions.get(REGISTERED_NAMES[t], v)
            for t, v in zip(TARGET_ORDER, versions, strict=True)
        ]

    async def load_versions(self, versions: tuple[str, str]) -> None:
        """Load the versions off the event loop, so the first call finds them loaded."""
        from runners.champions import TARGET_ORDER
        from training.dataset import REGISTERED_NAMES

        for target, version in zip(TARGET_ORDER, versions, strict=True):
            await asyncio.to_thread(self.versions.get, REGISTERED_NAMES[target], version)
