"""RemoteModels' own logic on a stand-in proxy: deadline, breaker, single trial, recovery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from firstpitch.serving.models import ModelUnavailable, RemoteModels


class Proxy:
    """Answers at once, or hangs (a dead process's socket accepting but never answering)."""

    def __init__(self) -> None:
        self.hang = False
        self.calls = 0
        self.to_async = self

    async def predict(self, x: Any) -> Any:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        return np.zeros((len(x), 2))


async def test_deadline_then_fast_failures_then_recovery() -> None:
    proxy = Proxy()
    models = RemoteModels(proxy, deadline_s=0.2, cooldown_s=0.3)
    x = np.zeros((1, 3))
    assert (await models.predict(x)).shape == (1, 2)

    proxy.hang = True
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"within 0\.2 s"):
        await models.predict(x)
    assert time.monotonic() - started < 0.5
    calls = proxy.calls
    started = time.monotonic()
    for _ in range(20):  # breaker open: no call reaches the proxy, each fails at once
        with pytest.raises(ModelUnavailable, match="breaker"):
            await models.predict(x)
    assert proxy.calls == calls and time.monotonic() - started < 0.1

    await asyncio.sleep(0.35)  # cooldown over: one trial at a time, the others fail fast
    trial = asyncio.create_task(models.predict(x))
    await asyncio.sleep(0.01)
    with pytest.raises(ModelUnavailable, match="breaker"):
        await models.predict(x)
    with pytest.raises(ModelUnavailable):
        await trial  # still hanging: the breaker opens again

    proxy.hang = False
    await asyncio.sleep(0.35)
    assert (await models.predict(x)).shape == (1, 2)  # back: closed again
    assert (await models.predict(x)).shape == (1, 2)


class CutOff:
    """The first ``cuts`` answers end after their headers (the process killed mid-answer)."""

    def __init__(self, cuts: int) -> None:
        self.cuts, self.calls, self.to_async = cuts, 0, self

    async def predict(self, x: Any) -> Any:
        import aiohttp

        self.calls += 1
        if self.calls <= self.cuts:
            raise aiohttp.ClientPayloadError("Response payload is not completed")
        return np.zeros((len(x), 2))


async def test_an_answer_cut_off_mid_body_is_retried_then_unavailable_never_a_crash() -> None:
    x = np.zeros((1, 3))
    proxy = CutOff(cuts=1)
    models = RemoteModels(proxy, base_delay=0.001)
    assert (await models.predict(x)).shape == (1, 2)  # retried once
    assert proxy.calls == 2 and models.retries == 1
    always = RemoteModels(CutOff(cuts=99), base_delay=0.001)
    with pytest.raises(ModelUnavailable, match="unreachable"):  # a 503, not a 500
        await always.predict(x)
