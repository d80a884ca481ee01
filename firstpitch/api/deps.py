"""What every REST route shares: its dependencies (the worker's runtime, the request id, the
key's scopes), the error responses it declares, per-game rate charging and the fast JSON
response of the hot endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from starlette.responses import Response

from firstpitch.api.schemas import ErrorBody, ModelName
from firstpitch.serving.errors import RateLimited, Unavailable
from firstpitch.serving.metrics import metrics
from firstpitch.serving.runtime import ApiRuntime


def fast_json(payload: Any) -> Response:
    """Prediction bodies are built by us, so the hot endpoints skip FastAPI's re-validation
    of the response model (it cost more than the prediction; the e2e tests validate bodies
    against the same models) and encode with orjson."""
    return Response(orjson.dumps(payload), media_type="application/json")


# Every /api/ route may answer: 401 no/bad key, 403 wrong scope, 429 rate limited, 503
# overloaded or a dependency down; bodies may also be too large (413) or mis-sized (400).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422, 429, 503)
}
POST_ERRORS = ERRORS | {code: {"model": ErrorBody} for code in (400, 413)}
QueryModel = Annotated[ModelName | None, Query()]


async def runtime(request: Request) -> ApiRuntime:
    rt: ApiRuntime | None = getattr(request.app.state, "runtime", None)
    if rt is None:  # pragma: no cover - only before startup
        raise Unavailable("the service is starting; retry shortly")
    return rt


Runtime = Annotated[ApiRuntime, Depends(runtime)]


async def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    request.state.request_id = rid
    return str(rid)


RequestId = Annotated[str, Depends(request_id)]


def granted(request: Request) -> frozenset[str]:
    """The scopes of the request's API key (every scope with keys off; none without one)."""
    scopes: frozenset[str] = getattr(request.state, "api_scopes", frozenset())
    return scopes


Scopes = Annotated[frozenset[str], Depends(granted)]


async def charge(request: Request, rt: ApiRuntime, games: int) -> None:
    """Rate limits count games: access control charged the request one; the rest here."""
    key = getattr(request.state, "api_key", None)
    if key is None or games <= 1:
        return
    decision = await rt.limiter.check(key, games - 1, charged=1)
    if not decision.allowed:
        metrics().rejected.labels("rate_limited").inc()
        raise RateLimited(
            f"rate limit of this API key exceeded ({games} games asked; limits count games); "
            f"retry in {decision.retry_after_s} s",
            decision.retry_after_s,
        )
