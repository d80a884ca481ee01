"""The health probes: open status, details for key holders, readiness with saturation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from firstpitch.api.deps import Runtime, Scopes
from firstpitch.api.schemas import ErrorBody, Health, Live, Ready
from firstpitch.serving.log_relay import log_depth
from firstpitch.serving.runtime import ApiRuntime

router = APIRouter()


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout=3.0)
        out: dict[str, Any] = {"status": "up"}
        if detail:
            out["detail"] = detail
    except Exception as exc:  # a health check reports every failure as "down"
        out = {"status": "down", "error": type(exc).__name__}
    out["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return out


async def _checks(rt: ApiRuntime, *, with_mlflow: bool) -> dict[str, dict[str, Any]]:
    async def pg() -> None:
        async with rt.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def redis() -> None:
        await rt.redis.ping()

    async def models() -> Any:
        await rt.backend.info()
        info = (await rt.predictor(wait_s=2)).served.info  # the versions serving now
        return [
            {"model_name": m["name"], "model_version": m["version"], "tag": m["tag"]}
            for m in info.values()
        ]

    names = ["postgres", "redis", "models"] + (["mlflow"] if with_mlflow else [])
    checks = [pg, redis, models] + ([rt.catalog.ping] if with_mlflow else [])
    results = await asyncio.gather(*(_timed(c) for c in checks))
    return dict(zip(names, results, strict=True))


# A 503 of a probe is its own body when a dependency is down, an ErrorBody while the service
# starts (and, for /health, which is not exempt from load shedding, when it is overloaded).
@router.get(
    "/health",
    tags=["health"],
    response_model=Health,
    responses={503: {"model": Health | ErrorBody}},
)
async def health(rt: Runtime, scopes: Scopes) -> JSONResponse:
    """Open: the status and the names of failing components. With an API key (any scope)
    also each component's detail and latency, the log queue and the clock."""
    components = await _checks(rt, with_mlflow=True)
    failing = [k for k, v in components.items() if v["status"] != "up"]
    status = {"status": "unhealthy" if failing else "healthy", "failing": failing}
    if not scopes:
        return JSONResponse(status, status_code=503 if failing else 200)
    body = status | {
        "components": components,
        "log_queue_depth": log_depth(rt.logger, rt.relay),
        "log_writer": rt.relay.report() if rt.relay is not None else None,
        "log_spill_bytes": rt.logger.spill_bytes(),
        "now": rt.clock.now().isoformat(),
    }
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get(
    "/health/ready",
    tags=["health"],
    response_model=Ready,
    responses={503: {"model": Ready | ErrorBody}},
)
async def ready(rt: Runtime, request: Request) -> JSONResponse:
    """Not ready while a dependency is down, while this worker is shedding API requests
    (``capacity``), or while it builds its feature state at start (``features``): an
    orchestrator then sends traffic elsewhere."""
    components = await _checks(rt, with_mlflow=False)
    failing = [k for k, v in components.items() if v["status"] != "up"]
    if request.app.state.capacity.saturated():
        failing.append("capacity")
    if not rt.features.warmed:  # the feature state is still being built at start
        failing.append("features")
    return JSONResponse(
        {"ready": not failing, "failing": failing}, status_code=503 if failing else 200
    )


@router.get("/health/live", tags=["health"], response_model=Live)
async def live() -> dict[str, str]:
    return {"status": "alive"}
